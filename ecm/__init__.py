"""The composition root: the `ecm` CLI, the local services (`ecm services`) and the demo."""
