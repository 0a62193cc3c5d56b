#!/usr/bin/env python3
"""A complete service adapter in about 50 lines of Python (standard library only): see the README,
"Writing an adapter in any language". Check it with:
  on-demand-broker adapter check --config examples/adapter-python/broker.yml"""
import json, secrets, sys

SECRET = "admin_password"  # an ODB-managed secret: the broker stores it, the manifest says ((odb_secret:admin_password))

def stored(secrets_in):  # the broker passes stored secrets back as {"((/odb/<svc>/<deployment>/KEY))": value}
    return next((v for k, v in (secrets_in or {}).items() if k.endswith("/" + SECRET + "))")), None)

def generate_manifest(req):
    sd, plan = json.loads(req["service_deployment"]), json.loads(req["plan"])
    password = stored(json.loads(req["previous_secrets"])) or secrets.token_urlsafe(24)  # keep it across updates
    jobs = [{"name": j, "release": r["name"], "properties": {"password": "((odb_secret:%s))" % SECRET}}
            for r in sd["releases"] for j in r["jobs"]]
    manifest = {"name": sd["deployment_name"],
                "releases": [{"name": r["name"], "version": r["version"]} for r in sd["releases"]],
                "stemcells": [{"alias": "default", "os": s["stemcell_os"], "version": s["stemcell_version"]} for s in sd["stemcells"][:1]],
                "instance_groups": [{"name": g["name"], "instances": g["instances"], "vm_type": g["vm_type"], "stemcell": "default",
                                     "azs": g["azs"], "networks": [{"name": n} for n in g["networks"]], "jobs": jobs}
                                    for g in plan["instance_groups"]],
                "update": {"canaries": 1, "max_in_flight": 1, "canary_watch_time": "1000-30000", "update_watch_time": "1000-30000"}}
    # JSON is YAML: every string comes out quoted, so BOSH (YAML 1.1) reads "yes" or "1.10" as written.
    return {"manifest": json.dumps(manifest, indent=1) + "\n", "secrets": {SECRET: password}, "configs": {}}

def create_binding(req):
    password, vms = stored(json.loads(req["secrets"])), json.loads(req["bosh_vms"])
    if password is None:
        raise ValueError("the broker passed no " + SECRET)
    return {"credentials": {"host": next(iter(vms.values()))[0], "port": 5432, "password": password}}

SCHEMA = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "additionalProperties": False, "properties": {}}
HANDLERS = {"generate-manifest": generate_manifest, "create-binding": create_binding, "delete-binding": lambda req: None,
            "dashboard-url": lambda req: {"dashboard_url": "https://dashboard.example.com/" + req["instance_id"]},
            "generate-plan-schemas": lambda req: {"service_instance": {"create": {"parameters": SCHEMA}, "update": {"parameters": SCHEMA}},
                                                  "service_binding": {"create": {"parameters": None}}}}

if __name__ == "__main__":
    sub = sys.argv[1] if len(sys.argv) == 2 else None  # legacy positional arguments are not supported
    if sub not in HANDLERS:
        print("usage: adapter.py {%s} < envelope.json" % ",".join(HANDLERS), file=sys.stderr)
        sys.exit(1)
    print("[python-adapter] handling", sub, file=sys.stderr)  # logs go to stderr; stdout is the result
    try:
        out = HANDLERS[sub](json.load(sys.stdin)[sub.replace("-", "_")])
    except Exception as e:  # exit 1; the message on stdout is what the platform user sees
        sys.stdout.write(str(e) or type(e).__name__)
        sys.exit(1)
    if out is not None:
        sys.stdout.write(json.dumps(out))
