"""Decision latency for a realistic organisation's policies, in OPA and embedded.

The policy sets model an organisation (issue 13): 8 organisation-wide
policies, then teams of about five policies each over repository globs, tag
regexes, semver ranges, label equals/exists, size and age, and any/all/not
groups. Teams come in nine kinds; one kind writes every policy like the seed
design's own example (repository glob + tag regex + ``environment=production``).
Images are drawn from the same organisation (300 by default).

Rows (``--rows``):

* ``realistic``: the organisation above;
* ``unanchored``: the same, with every team's repository scope written as an
  unanchored regex (``repository matches "team-00042/"``);
* ``global-regex``: the organisation plus 1,000 organisation-wide tag-regex
  policies (half an unanchored literal like ``-hotfix17``, half case-insensitive
  patterns no index can use);
* ``naive``: the realistic policies laid out one Rego package per policy (each
  policy a rule that OPA evaluates for every image), the layout the index is
  compared with.

Each row is decided by OPA v1.20.2's Go engine **in-process** (the reference
``opa``'s vendored bindings, ``../shared/opa/vendor``; no HTTP) and by the
embedded engine (regorus), for the same images. Every image is decided in 3
interleaved passes (OPA pass, embedded pass, repeated) and its latency is the
fastest of the 3; p50/p99 are over those per-image minima. The same is
reported for the CPU time of the deciding thread (``time.thread_time``: the
Go engine and regorus run on the calling thread), which a loaded machine
inflates much less than wall time. "candidates" is the
decision's ``metadata.candidates`` (avg/max over the images). The machine load
(``/proc/loadavg``) is recorded before and after each row.

    python benchmarks/bench_decisions.py [--sizes 1000,2000,5000,10000] [--rows realistic,...]

Prints a Markdown table (copied into docs/benchmarks.md) and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from migrate.bundle.builder import Bundle, BundleBuilder
from migrate.contract.image import ImageMetadata
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.model import LoadedPolicy, Policy, PolicySet

NOW = "2026-11-23T12:00:00Z"
ORG_POLICIES = 8
PER_TEAM = 5
TEAM_KINDS = 9
APPS = ["api", "web", "worker", "db-migrate", "cli"]
ENVIRONMENTS = ["production", "staging", "dev"]
DECISION = "freightliner.replication.decision"
# A row's passes stop adding images once this many seconds were spent on one
# engine's first pass (the naive and adversarial layouts at 10k are slow).
ROW_BUDGET_S = 60.0


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text(encoding="ascii").split(" ", 3)[:3].__str__()
    except OSError:
        return "?"


def team_name(t: int) -> str:
    return f"team-{t:05d}"


def _replicate(registry: str, repo: str = "{repository}") -> dict[str, Any]:
    return {"type": "replicate", "target_registry": registry, "target_repo": repo}


def org_policies() -> list[dict[str, Any]]:
    """The 8 organisation-wide policies (5 with no indexable condition)."""
    return [
        {
            "id": "org-compliance-scan",
            "priority": 1000,
            "conditions": [
                {"type": "label", "operator": "not_exists", "value": "security.scan.status"}
            ],
            "actions": [{"type": "block", "parameters": {"reason": "Missing security scan"}}],
        },
        {
            "id": "org-too-old",
            "priority": 900,
            "conditions": [{"type": "age", "operator": "older_than", "value": "365d"}],
            "actions": [{"type": "block", "parameters": {"reason": "older than a year"}}],
        },
        {
            "id": "org-too-large",
            "priority": 900,
            "conditions": [{"type": "metadata", "key": "size", "operator": "gt", "value": "8GiB"}],
            "actions": [{"type": "block", "parameters": {"reason": "larger than 8 GiB"}}],
        },
        {
            "id": "org-no-lab",
            "priority": 800,
            "conditions": [
                {"not": {"type": "label", "operator": "not_equals", "value": "lab.skip=true"}}
            ],
            "actions": [{"type": "block", "parameters": {"reason": "lab image"}}],
        },
        {
            "id": "org-audit-notify",
            "priority": 0,
            "conditions": [
                {"type": "label", "operator": "exists", "value": "audit"},
                {"type": "metadata", "key": "architecture", "operator": "in", "value": ["s390x"]},
            ],
            "actions": [{"type": "notify", "parameters": {"url": "https://hooks.example/a"}}],
        },
        {
            "id": "org-latest-notify",
            "priority": 0,
            "conditions": [{"type": "tag", "operator": "equals", "value": "latest"}],
            "actions": [{"type": "notify", "parameters": {"url": "https://hooks.example/l"}}],
        },
        {
            "id": "org-arm-mirror",
            "priority": 10,
            "conditions": [
                {"type": "registry", "operator": "equals", "value": "hub"},
                {"type": "metadata", "key": "architecture", "operator": "equals", "value": "arm64"},
            ],
            "actions": [_replicate("gcr", "arm/{repository}")],
        },
        {
            "id": "org-base-images",
            "priority": 50,
            "conditions": [{"type": "repository", "operator": "glob", "value": "base/*"}],
            "actions": [_replicate("ecr", "base/{match}")],
        },
    ]


def team_policies(t: int, *, unanchored: bool) -> list[dict[str, Any]]:
    """About five policies of team ``t``; its kind is ``t % 9`` (kind 0: seed-shaped)."""
    team = team_name(t)
    kind = t % TEAM_KINDS

    def scope(app: str = "*") -> dict[str, Any]:
        if unanchored:
            literal = f"{team}/" if app == "*" else f"{team}/{app.rstrip('*')}"
            return {"type": "repository", "operator": "matches", "value": literal}
        return {"type": "repository", "operator": "glob", "value": f"{team}/{app}"}

    pid = f"{team}-p"
    if kind == 0:  # the seed's example, five times over
        return [
            {
                "id": f"{pid}{j}",
                "priority": 100,
                "conditions": [
                    scope(APPS[j] if j else "*"),
                    {
                        "type": "tag",
                        "operator": "matches",
                        "value": f"^{['prod', 'rel', 'v'][j % 3]}-.*",
                    },
                    {"type": "label", "operator": "equals", "value": "environment=production"},
                ],
                "actions": [_replicate("ecr", "production/{repository}")],
            }
            for j in range(PER_TEAM)
        ]
    return [
        {
            "id": f"{pid}0",
            "priority": 100,
            "conditions": [
                scope(),
                {"type": "tag", "operator": "semver", "value": ">=1.0.0 <3.0.0"},
                {"type": "label", "operator": "exists", "value": "security.scan.status"},
            ],
            "actions": [_replicate("ecr", f"{team}/{{match}}")],
        },
        {
            "id": f"{pid}1",
            "priority": 50 + kind,
            "conditions": [
                scope("api*"),
                {
                    "any": [
                        {"type": "tag", "operator": "matches", "value": "^v[0-9]+\\.[0-9]+"},
                        {"type": "label", "operator": "equals", "value": f"team={team}"},
                    ]
                },
                {"type": "metadata", "key": "size", "operator": "lt", "value": "2GiB"},
            ],
            "actions": [_replicate("gcr", "mirror/{repository}")],
        },
        {
            "id": f"{pid}2",
            "priority": 200,
            "conditions": [
                scope(),
                {"type": "tag", "operator": "matches", "value": "-(dev|snapshot)$"},
                {"not": {"type": "label", "operator": "equals", "value": "keep=true"}},
            ],
            "actions": [{"type": "block", "target_registry": "ecr"}],
        },
        {
            "id": f"{pid}3",
            "priority": 10,
            "conditions": [
                scope(),
                {"type": "age", "operator": "newer_than", "value": "30d"},
                {
                    "type": "label",
                    "operator": "equals",
                    "value": f"environment={ENVIRONMENTS[kind % 3]}",
                },
            ],
            "actions": [{"type": "notify", "parameters": {"url": f"https://hooks.example/{team}"}}],
        },
        {
            "id": f"{pid}4",
            "priority": 100,
            "conditions": [
                {
                    "all": [
                        scope(),
                        {"type": "tag", "operator": "in", "value": ["stable", "latest", "lts"]},
                    ]
                },
                {
                    "type": "metadata",
                    "key": "architecture",
                    "operator": "in",
                    "value": ["amd64", "arm64"],
                },
            ],
            "actions": [_replicate("hub", "{repository}")],
        },
    ]


def global_regex_policies(count: int) -> list[dict[str, Any]]:
    """Organisation-wide tag regexes: half with a required literal, half with none usable."""
    out = []
    for i in range(count):
        pattern = f"-hotfix{i}" if i % 2 == 0 else f"(?i)^cve-{i}-"
        out.append(
            {
                "id": f"global-tag-{i:05d}",
                "priority": 300,
                "conditions": [{"type": "tag", "operator": "matches", "value": pattern}],
                "actions": [{"type": "block", "parameters": {"reason": f"tag rule {i}"}}],
            }
        )
    return out


def teams_for(n: int) -> int:
    return max(1, (n - ORG_POLICIES) // PER_TEAM)


def make_policies(n: int, row: str) -> list[dict[str, Any]]:
    policies = org_policies()
    for t in range(teams_for(n)):
        policies.extend(team_policies(t, unanchored=row == "unanchored"))
    if row == "global-regex":
        policies.extend(global_regex_policies(1000))
    return policies


def make_images(n: int, count: int, rng: random.Random) -> list[ImageMetadata]:
    teams = teams_for(n)
    images = []
    for _ in range(count):
        t = rng.randrange(teams)
        labels = {"environment": rng.choice([*ENVIRONMENTS, "production"])}
        if rng.random() < 0.8:
            labels["security.scan.status"] = "passed"
        if rng.random() < 0.3:
            labels["team"] = team_name(t)
        tag = rng.choice(
            [
                f"prod-{rng.randrange(100)}",
                f"rel-{rng.randrange(100)}",
                f"v{rng.randrange(4)}.{rng.randrange(10)}.{rng.randrange(10)}",
                "latest",
                "stable",
                f"build-{rng.randrange(1000)}-dev",
                f"x-hotfix{rng.randrange(2000)}",
            ]
        )
        images.append(
            ImageMetadata(
                registry=rng.choice(["hub", "local"]),
                repository=f"{team_name(t)}/{rng.choice(APPS)}",
                tag=tag,
                labels=labels,
                size=rng.randrange(3 * 2**30),
                created_at=rng.choice(
                    ["2026-11-20T00:00:00Z", "2026-06-01T00:00:00Z", "2024-01-01T00:00:00Z"]
                ),
                architecture=rng.choice(["amd64", "arm64"]),
                os="linux",
            )
        )
    return images


def policy_set(raw: list[dict[str, Any]]) -> PolicySet:
    return PolicySet([LoadedPolicy(Policy.model_validate(p), "bench.yaml", None) for p in raw])


# ---------------------------------------------------------------- naive layout


def _rego_str(value: Any) -> str:
    return json.dumps(value)


def _naive_leaf(leaf: dict[str, Any]) -> str:
    """One compiled leaf as a Rego expression over ``f`` (the image's facts), un-negated."""
    subject = "f" + "".join(f"[{_rego_str(p)}]" for p in leaf["subject"])
    base, arg = leaf["base"], leaf["arg"]
    if base == "equals":
        return f"{subject} == {_rego_str(arg)}"
    if base == "in":
        return f"{subject} in {_rego_str(arg)}"
    if base == "matches":
        return f"regex.match({_rego_str(arg)}, {subject})"
    if base == "contains":
        return f"contains({subject}, {_rego_str(arg)})"
    if base == "prefix":
        return f"startswith({subject}, {_rego_str(arg)})"
    if base == "suffix":
        return f"endswith({subject}, {_rego_str(arg)})"
    if base == "prefix_segment":  # a glob "literal*"
        return (
            f"startswith({subject}, {_rego_str(arg)}); "
            f'indexof(trim_prefix({subject}, {_rego_str(arg)}), "/") == -1'
        )
    if base == "exists":
        return f"{subject}"
    if base in {"gt", "gte", "lt", "lte"}:
        op = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[base]
        return f"{subject} {op} {arg}"
    if base == "semver":  # the generator's ranges have one alternative
        version = f'trim_prefix({subject}, "v")'
        checks = [
            f"semver.compare({version}, {_rego_str(c[1])}) {'==' if c[0] == '=' else c[0]} 0"
            for c in arg["alternatives"][0]
        ]
        return "; ".join([f"semver.is_valid({version})", *checks])
    raise ValueError(f"naive layout: no Rego for {base}")


def naive_bundle(bundle: Bundle) -> dict[str, str]:
    """One package per policy: ``match`` over the compiled leaves and groups."""
    policies = bundle.data()["freightliner"]["policy_set"]["policies"]
    modules: dict[str, str] = {}
    names = []
    for number, pid in enumerate(sorted(policies)):
        p = policies[pid]
        pkg = f"p{number:05d}"
        names.append((pkg, pid))
        lines = [
            f"package naive.policies.{pkg}",
            "",
            'f := object.union(input.image, {"age_ns": time.parse_rfc3339_ns(input.now) - time.parse_rfc3339_ns(input.image.created_at)})',
            "",
        ]
        for i, leaf in enumerate(p["leaves"]):
            expr = _naive_leaf(leaf)
            if leaf["negate"]:
                lines += [f"b{i} if {{ {expr} }}", f"n{i} if not b{i}"]
            else:
                lines += [f"n{i} if {{ {expr} }}"]
        for level in reversed(p["levels"]):
            for group in level:
                children = [f"n{c}" for c in group["children"]]
                if group["op"] == "all":
                    lines.append(f"n{group['id']} if {{ {'; '.join(children) or 'true'} }}")
                elif group["op"] == "any":
                    lines += [f"n{group['id']} if {c}" for c in children]
                else:
                    lines.append(f"n{group['id']} if not {children[0]}")
        lines += [f"match if n{p['root']}", f"priority := {p['priority']}", ""]
        modules[f"naive/{pkg}.rego"] = "\n".join(lines)
    modules["naive/decision.rego"] = "\n".join(
        [
            "package naive",
            "",
            "decision := {",
            '\t"matched_policies": [id | some key in sort({[0 - p.priority, id] | some pkg, p in data.naive.policies; p.match; id := data.naive_ids[pkg]}); id := key[1]],',
            "}",
            "",
        ]
    )
    modules["naive/ids.json"] = json.dumps({pkg: pid for pkg, pid in names})
    return modules


# ---------------------------------------------------------------- engines


def opa_bindings() -> Any:
    opa = shutil.which("opa")
    if not opa:
        raise SystemExit("no opa on PATH (source scripts/setup.sh)")
    vendor = Path(opa).resolve().parents[1] / "vendor"
    sys.path.insert(0, str(vendor))
    import opa_bindings

    return opa_bindings


@dataclass
class Row:
    row: str
    policies: int
    images: int
    build_s: float
    opa: tuple[float, float]
    embedded: tuple[float, float]
    opa_cpu: tuple[float, float]
    embedded_cpu: tuple[float, float]
    candidates: tuple[float, int]
    load_before: str
    load_after: str
    worst_case: int | None


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class OpaInProcess:
    def __init__(self, modules: dict[str, str], data: dict[str, Any], path: str) -> None:
        self._engine = opa_bindings().OpaEngine()
        self._engine.print_handler = lambda *_: None
        for name, text in modules.items():
            if name.endswith(".json"):
                self._engine.add_data(json.loads(text), "naive_ids")
            elif not name.endswith("_test.rego"):
                self._engine.add_policy(name, text)
        if data:
            self._engine.add_data(data)
        self._path = path

    def decide(self, image: dict[str, Any], explain: bool = False) -> Any:
        query = {"image": image, "now": NOW, **({"explain": True} if explain else {})}
        return self._engine.eval_document(self._path, query)

    def close(self) -> None:
        self._engine.close()


class RegorusNaive:
    def __init__(self, modules: dict[str, str]) -> None:
        import regorus

        self._engine = regorus.Engine()
        for name, text in modules.items():
            if name.endswith(".json"):
                self._engine.add_data_json(json.dumps({"naive_ids": json.loads(text)}))
            else:
                self._engine.add_policy(name, text)

    def decide(self, image: dict[str, Any]) -> Any:
        self._engine.set_input_json(json.dumps({"image": image, "now": NOW}))
        return json.loads(self._engine.eval_rule_as_json("data.naive.decision"))


def measure(row: str, n: int, image_count: int, passes: int) -> Row:
    rng = random.Random(13)
    raw = make_policies(n, row)
    images = make_images(n, image_count, rng)
    inputs = [i.as_input() for i in images]
    load_before = loadavg()
    start = time.perf_counter()
    bundle = BundleBuilder(generate_tests=False).build(policy_set(raw))
    build_s = time.perf_counter() - start
    meta = json.loads(bundle.files[".manifest"]).get("metadata", {})
    worst = meta.get("worst_case_candidates")
    if row == "naive":
        modules = naive_bundle(bundle)
        opa: Any = OpaInProcess(modules, {}, "naive.decision")
        emb: Any = RegorusNaive(modules)
        opa_call = opa.decide
        emb_call = emb.decide
    else:
        opa = OpaInProcess(bundle.modules(), bundle.data(), DECISION)
        emb = EmbeddedEngine(bundle.modules(), bundle.data())
        opa_call = opa.decide

        def emb_call(image: dict[str, Any]) -> Any:
            return emb.decide(ImageMetadata.model_validate(image), now=NOW)

    metadata = [ImageMetadata.model_validate(i) for i in inputs]
    opa_call(inputs[0])
    emb_call(inputs[0])
    best_opa = [float("inf")] * len(inputs)
    best_emb = [float("inf")] * len(inputs)
    cpu_opa = [float("inf")] * len(inputs)
    cpu_emb = [float("inf")] * len(inputs)
    candidates: list[int] = []
    limit = len(inputs)
    for rep in range(passes):
        first = time.perf_counter()
        for i in range(limit):
            c0, t0 = time.thread_time(), time.perf_counter()
            result = opa_call(inputs[i])
            best_opa[i] = min(best_opa[i], (time.perf_counter() - t0) * 1000)
            cpu_opa[i] = min(cpu_opa[i], (time.thread_time() - c0) * 1000)
            if rep == 0:
                candidates.append(
                    int(result["metadata"]["candidates"]) if row != "naive" else len(raw)
                )
                if time.perf_counter() - first > ROW_BUDGET_S and limit == len(inputs):
                    limit = i + 1
        first = time.perf_counter()
        for i in range(limit):
            if rep == 0 and time.perf_counter() - first > ROW_BUDGET_S:
                limit = i
                break
            if row == "naive":
                c0, t0 = time.thread_time(), time.perf_counter()
                emb_call(inputs[i])
            else:
                image = metadata[i]
                c0, t0 = time.thread_time(), time.perf_counter()
                emb.decide(image, now=NOW)
            best_emb[i] = min(best_emb[i], (time.perf_counter() - t0) * 1000)
            cpu_emb[i] = min(cpu_emb[i], (time.thread_time() - c0) * 1000)
    opa.close()
    cands = candidates[:limit]
    return Row(
        row=row,
        policies=len(raw),
        images=limit,
        build_s=build_s,
        opa=percentiles(best_opa[:limit]),
        embedded=percentiles(best_emb[:limit]),
        opa_cpu=percentiles(cpu_opa[:limit]),
        embedded_cpu=percentiles(cpu_emb[:limit]),
        candidates=(sum(cands) / len(cands), max(cands)),
        load_before=load_before,
        load_after=loadavg(),
        worst_case=worst,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,2000,5000,10000")
    parser.add_argument("--rows", default="realistic,unanchored,global-regex,naive")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        for row in args.rows.split(","):
            result = measure(row, n, args.images, args.passes)
            rows.append(result)
            print(f"done {row} {n}: {result}", file=sys.stderr, flush=True)
    print(
        "| row | policies | images | OPA in-process p50 / p99 (ms) | embedded p50 / p99 (ms) "
        "| OPA CPU p50 / p99 (ms) | embedded CPU p50 / p99 (ms) "
        "| candidates avg / max | worst case (build) | build (s) | loadavg before → after |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r.row} | {r.policies:,} | {r.images} | {r.opa[0]:.2f} / {r.opa[1]:.2f} "
            f"| {r.embedded[0]:.2f} / {r.embedded[1]:.2f} "
            f"| {r.opa_cpu[0]:.2f} / {r.opa_cpu[1]:.2f} "
            f"| {r.embedded_cpu[0]:.2f} / {r.embedded_cpu[1]:.2f} | {r.candidates[0]:.1f} / "
            f"{r.candidates[1]:,} | {r.worst_case if r.worst_case is not None else '-'} "
            f"| {r.build_s:.2f} | {r.load_before} → {r.load_after} |"
        )
    print("\n" + json.dumps({"rows": [r.__dict__ for r in rows]}))


if __name__ == "__main__":
    main()
