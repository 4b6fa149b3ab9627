"""Where the portal lives; the error handlers send signed-out browsers to the sign-in page."""

PORTAL_PREFIX = "/portal"
SIGN_IN_PATH = f"{PORTAL_PREFIX}/sign-in"
SESSION_COOKIE = "ecm_session"
