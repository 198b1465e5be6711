"""Validates custom resources against the openAPIV3Schema of their CustomResourceDefinitions, strictly.

Usage: validate-custom-resources.py CRD_FILE... < manifests.yaml

Kubernetes' own schemas (kubernetes-validate) know no custom resources, so the chart's
Certificate and ServiceMonitor are checked here against the CRDs of the versions pinned in
scripts/setup.d/20-deploy-checks.sh. Strict like `kubectl apply --validate=strict`: a field the
schema does not declare is an error, unless the schema preserves unknown fields there. Resources
of other groups are skipped; a custom resource without a CRD is an error. Prints one line per
resource ("ok Kind/name" or "error Kind/name: path: message") and exits 1 on any error.
"""

import sys

import jsonschema
import yaml


def strict(schema):
    """Returns the schema with additionalProperties false wherever properties are declared."""
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) if isinstance(v, (dict, list)) else v for k, v in schema.items()}
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: strict(v) for k, v in schema["properties"].items()}
    if isinstance(schema.get("items"), dict):
        out["items"] = strict(schema["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            out[key] = [strict(s) for s in schema[key]]
    # x-kubernetes-* markers are not JSON Schema; drop them so the validator ignores nothing by accident.
    for key in list(out):
        if key.startswith("x-kubernetes-"):
            del out[key]
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
        out["additionalProperties"] = False
    return out


def crd_schemas(paths):
    schemas = {}
    for path in paths:
        with open(path) as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group = crd["spec"]["group"]
                kind = crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    if version.get("served"):
                        schema = strict(version["schema"]["openAPIV3Schema"])
                        # metadata is validated by the API server, not the CRD schema.
                        schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                        schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def main():
    schemas = crd_schemas(sys.argv[1:])
    groups = {api.split("/")[0] for api, _ in schemas}
    failed = False
    for doc in yaml.safe_load_all(sys.stdin):
        if not doc:
            continue
        api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
        name = f"{kind}/{doc.get('metadata', {}).get('name', '?')}"
        if api.split("/")[0] not in groups:
            continue
        schema = schemas.get((api, kind))
        if schema is None:
            print(f"error {name}: no CRD serves {api} {kind}")
            failed = True
            continue
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
        for error in errors:
            path = "/".join(str(p) for p in error.path) or "(root)"
            print(f"error {name}: {path}: {error.message}")
        if errors:
            failed = True
        else:
            print(f"ok {name}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
