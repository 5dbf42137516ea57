# Resolves credentials with botocore's default chain (the Debian root has python3-botocore, not
# boto3) and prints one JSON line: {"ok","method","ak","hasSecret","hasToken"} or {"ok":false,"error"}.
import json
import sys

try:
    import botocore.session

    c = botocore.session.get_session().get_credentials()
    if c is None:
        raise RuntimeError("no credentials found")
    f = c.get_frozen_credentials()
    print(json.dumps({"ok": True, "method": c.method, "ak": f.access_key, "hasSecret": bool(f.secret_key), "hasToken": bool(f.token)}))
except Exception as e:  # noqa: BLE001 - the probe reports every failure as data
    print(json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, str(e)[:600])}))
    sys.exit(1)
