# Resolves credentials with boto3's default chain and prints one JSON line:
# {"ok":true,"method","ak","hasSecret","hasToken","expiry"} or {"ok":false,"error"}; exits 1 on failure.
import json
import sys

try:
    import boto3

    c = boto3.Session().get_credentials()
    if c is None:
        raise RuntimeError("no credentials found")
    f = c.get_frozen_credentials()
    expiry = getattr(c, "_expiry_time", None)
    print(json.dumps({"ok": True, "method": c.method, "ak": f.access_key, "hasSecret": bool(f.secret_key),
                      "hasToken": bool(f.token), "expiry": expiry.isoformat() if expiry is not None else None}))
except Exception as e:  # noqa: BLE001 - the probe reports every failure as data
    print(json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, str(e)[:600])}))
    sys.exit(1)
