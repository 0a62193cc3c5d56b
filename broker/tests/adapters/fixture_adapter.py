#!/usr/bin/env python3
"""A service adapter for the tests of `on-demand-broker adapter check`.

Well-behaved by default. When its file name is the name of a rule of `adapter check`
(the tests copy it to `<tmp>/<rule>`), it breaks exactly that rule; a few other names
select other behaviour (see MODES). It reads the stdin envelope, or the legacy positional
arguments when there are any, and keeps the ids of the bindings it created in a file next
to itself, so that deleting an unknown binding answers 41 (binding not found).
"""
import json
import os
import random
import re
import sys
import time

MODE = os.path.basename(sys.argv[0])
MODES = {
    "exit-codes": "dashboard-url exits 3",
    "stdout-is-output": "generate-manifest prints a log line on stdout",
    "output-shape": "create-binding answers {\"creds\": ...} instead of credentials",
    "manifest-yaml": "instance_groups[].instances is not a number",
    "deployment-name": "the manifest is named wrong-name",
    "exact-versions": "release versions are 'latest'",
    "releases-and-stemcells": "the manifest adds a release that is not configured",
    "update-block": "max_in_flight is 0",
    "yaml-1.1-scalars": "a job property is the plain scalar yes",
    "odb-secrets": "the manifest references ((odb_secret:missing_key)) without returning it",
    "pending-changes": "a property differs once there is a previous manifest",
    "idempotent": "canaries grow by one on every regeneration",
    "secrets-kept-on-update": "the ODB-managed secret gets a new value on every call",
    "service-key": "create-binding without app_guid exits 1",
    "unbind-unknown": "delete-binding of an unknown binding exits 1",
    "plan-schemas": "the schemas are draft-07",
    "stderr-no-secrets": "create-binding logs the password on stderr",
    "call-time": "dashboard-url sleeps 5 seconds",
    "needs-app": "create-binding without app_guid exits 42 (the service binds to apps only)",
    "legacy-json": "in legacy argv mode generate-manifest prints the stdin-mode JSON",
}
STATE = sys.argv[0] + ".bindings"
SECRET = "admin_password"


def log(*words):
    print("[fixture-adapter:%s]" % MODE, *words, file=sys.stderr)


def fail(code, message):
    sys.stdout.write(message)
    log(message)
    sys.exit(code)


def q(text):
    """A double-quoted YAML scalar."""
    return json.dumps(text)


def stored(secrets):
    return next((v for k, v in (secrets or {}).items() if k.endswith("/%s))" % SECRET)), None)


def manifest(sd, plan, previous, with_secret):
    name = "wrong-name" if MODE == "deployment-name" else sd["deployment_name"]
    lines = ["name: " + q(name), "releases:"]
    for r in sd["releases"]:
        version = "latest" if MODE == "exact-versions" else r["version"]
        lines += ["- name: " + q(r["name"]), "  version: " + q(version)]
    if MODE == "releases-and-stemcells":
        lines += ['- name: "extra-release"', '  version: "1.0"']
    stemcell = sd["stemcells"][0]
    lines += ["stemcells:", '- alias: "default"', "  os: " + q(stemcell["stemcell_os"]),
              "  version: " + q(stemcell["stemcell_version"]), "instance_groups:"]
    for g in plan["instance_groups"]:
        instances = "many" if MODE == "manifest-yaml" else str(g["instances"])
        lines += ["- name: " + q(g["name"]), "  instances: " + instances, "  vm_type: " + q(g["vm_type"]),
                  '  stemcell: "default"', "  azs: " + json.dumps(g["azs"]),
                  "  networks: " + json.dumps([{"name": n} for n in g["networks"]]), "  jobs:"]
        for r in sd["releases"]:
            for job in r["jobs"]:
                lines += ["  - name: " + q(job), "    release: " + q(r["name"]), "    properties:",
                          '      port: 5432']
                if with_secret:
                    lines += ['      password: "((odb_secret:%s))"' % SECRET]
                if MODE == "yaml-1.1-scalars":
                    lines += ["      persistence: yes"]
                if MODE == "odb-secrets":
                    lines += ['      other: "((odb_secret:missing_key))"']
                if MODE == "pending-changes":
                    lines += ["      generation: " + q("later" if previous else "first")]
    canaries = 1
    if MODE == "idempotent" and previous:
        found = re.search(r"^update:\n  canaries: (\d+)", previous, re.M)
        canaries = int(found.group(1)) + 1 if found else 1
    lines += ["update:", "  canaries: %d" % canaries, "  max_in_flight: %d" % (0 if MODE == "update-block" else 1),
              '  canary_watch_time: "1000-30000"', '  update_watch_time: "1000-30000"']
    return "\n".join(lines) + "\n"


def generate_manifest(sd, plan, previous, previous_secrets, legacy):
    if MODE == "stdout-is-output":
        print("generating the manifest for", sd["deployment_name"])
    text = manifest(sd, plan, previous, not legacy)
    if legacy and MODE != "legacy-json":
        sys.stdout.write(text)
        return
    password = stored(previous_secrets)
    if password is None or MODE == "secrets-kept-on-update":
        password = "pw-%016x" % random.getrandbits(64)
    sys.stdout.write(json.dumps({"manifest": text, "secrets": {SECRET: password}, "configs": {}}))


def bindings():
    try:
        with open(STATE) as f:
            return set(f.read().split())
    except FileNotFoundError:
        return set()


def create_binding(binding_id, vms, params, secrets):
    if "app_guid" not in params:
        if MODE == "service-key":
            fail(1, "an app_guid is required")
        if MODE == "needs-app":
            fail(42, "app GUID not provided: this service binds to apps only")
    host = next(iter(vms.values()))[0]
    password = stored(secrets) or "legacy-%s" % binding_id
    credentials = {"host": host, "port": 5432, "password": password,
                   "uri": "postgres://admin:%s@%s:5432/db" % (password, host)}
    if MODE == "stderr-no-secrets":
        log("created a binding with password", password)
    with open(STATE, "a") as f:
        f.write(binding_id + "\n")
    sys.stdout.write(json.dumps({"creds" if MODE == "output-shape" else "credentials": credentials}) + "\n")


def delete_binding(binding_id):
    known = bindings()
    if binding_id not in known:
        if MODE == "unbind-unknown":
            fail(1, "something went wrong")
        fail(41, "binding not found: " + binding_id)
    with open(STATE, "w") as f:
        f.write("".join(b + "\n" for b in known - {binding_id}))


def main():
    if len(sys.argv) < 2:
        fail(1, "usage: %s <subcommand>" % MODE)
    sub, args = sys.argv[1], sys.argv[2:]
    legacy = bool(args)
    req = {} if legacy else json.load(sys.stdin)[sub.replace("-", "_")]
    log("handling", sub)
    if sub == "generate-manifest":
        if legacy:
            sd, plan, _, previous, _ = args[:5]
            generate_manifest(json.loads(sd), json.loads(plan), previous, None, True)
        else:
            generate_manifest(json.loads(req["service_deployment"]), json.loads(req["plan"]),
                              req["previous_manifest"], json.loads(req["previous_secrets"]), False)
    elif sub == "create-binding":
        if legacy:
            create_binding(args[0], json.loads(args[1]), json.loads(args[3]), None)
        else:
            create_binding(req["binding_id"], json.loads(req["bosh_vms"]),
                           json.loads(req["request_parameters"]), json.loads(req["secrets"]))
    elif sub == "delete-binding":
        delete_binding(args[0] if legacy else req["binding_id"])
    elif sub == "dashboard-url":
        if MODE == "exit-codes":
            sys.exit(3)
        if MODE == "call-time":
            time.sleep(5)
        instance_id = args[0] if legacy else req["instance_id"]
        sys.stdout.write(json.dumps({"dashboard_url": "https://dashboard.example.com/" + instance_id}) + "\n")
    elif sub == "generate-plan-schemas":
        draft = "07" if MODE == "plan-schemas" else "04"
        schema = {"$schema": "http://json-schema.org/draft-%s/schema#" % draft, "type": "object"}
        sys.stdout.write(json.dumps({"service_instance": {"create": {"parameters": schema}, "update": {"parameters": schema}},
                                     "service_binding": {"create": {"parameters": None}}}) + "\n")
    else:
        fail(1, "unknown subcommand: " + sub)


main()
