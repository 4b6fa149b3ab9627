from ecm.cli import main

main()
