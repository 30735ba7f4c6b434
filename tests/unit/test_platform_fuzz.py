"""Fuzzing the platform readers: mutated real ClusterNetworkPolicy / ANP / BANP objects (the fixtures'), read,
validated, analysed and probed, give a result or a clean InputError naming the source, never another exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from editor.policy.platform.connlist import analyse_tiers
from editor.policy.platform.inputs import split_objects
from editor.policy.platform.probe import Probe, Prober
from editor.policy.validate import validate_objects
from editor.policy.yamlio import dump_yaml_documents, load_objects
from tests.unit.test_fuzz_parsers import FUZZ, clean, mutated

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFORMANCE = FIXTURES / "clusternetworkpolicy-conformance" / "cases" / "CNPAdminTierEgressTCP"
ANP = FIXTURES / "netpol-analyzer-anp" / "tests"


def _seeds() -> list[dict]:
    found = []
    paths = [*sorted(CONFORMANCE.glob("*/objects.yaml")), *sorted(ANP.glob("anp_demo/*.yaml"))]
    for path in paths:
        objects, _ = load_objects(path.read_text(), str(path))
        found.extend(o.obj for o in objects if "policy.networking" in str(o.obj.get("apiVersion")))
    return found


SEEDS = _seeds()
CLUSTER, _ = load_objects(next(CONFORMANCE.glob("01-*/objects.yaml")).read_text(), "cluster.yaml")
CLUSTER_OBJECTS = [o.obj for o in CLUSTER if o.obj.get("kind") in ("Namespace", "Pod", "Node")]


def _run(objects: list[dict]) -> None:
    text = dump_yaml_documents([*CLUSTER_OBJECTS, *objects])
    loaded, _ = load_objects(text, "fuzz.yaml")
    validate_objects(loaded)
    inputs = split_objects(loaded, [])
    analyse_tiers(inputs)
    prober = Prober(inputs)
    src, dst = (
        "network-policy-conformance-gryffindor/harry-potter-0",
        "network-policy-conformance-ravenclaw/luna-lovegood-0",
    )
    assert prober.run(Probe(src, dst, "TCP", 80)).line().split()[0] in ("allowed", "denied")


@FUZZ
@given(st.lists(mutated(st.sampled_from(SEEDS)), min_size=1, max_size=3))
def test_mutated_platform_policies_give_a_result_or_an_input_error(objects) -> None:
    clean(_run, objects)


def test_the_seeds_are_platform_policies() -> None:
    assert len(SEEDS) >= 10 and {s["kind"] for s in SEEDS} >= {"ClusterNetworkPolicy", "AdminNetworkPolicy"}
