"""Fleet security on the real zenoh link: mutual TLS and per-robot access control.

Verifies: `cloudseg certs` writes a CA, identities and zenoh configs that zenoh accepts; a
client without a certificate cannot connect; with the real cloud graph (TLS + ACL) serving
car1's real robot graph, a hostile car2 holding a VALID certificate that publishes on car1's
uplink key and subscribes to car1's masks gets nothing through (the cloud never sees its
frames, it receives no mask), while car1 keeps being served. Payload checks behind the
transport are in test_graph.py and test_fuzz.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import zenoh

from cloudseg_ros.bridge.session import ZenohSettings, build_config
from cloudseg_ros.cli import main as cli
from cloudseg_ros.demo.observer import RELIABLE, free_port, wait_until
from cloudseg_ros.msg import Feedback
from cloudseg_ros.security.zenoh_tls import access_control

from graphs import Graph


def test_acl_shape() -> None:
    acl = access_control(["car1", "fleet/car2"])
    assert acl["default_permission"] == "deny"
    ids = {r["id"] for r in acl["rules"]}
    assert {"car1:uplink", "car1:downlink", "fleet/car2:uplink", "cloud:uplink-interest"} <= ids
    uplink = next(r for r in acl["rules"] if r["id"] == "fleet/car2:uplink")
    assert uplink["key_exprs"] == ["fleet/car2/cloudseg/uplink"] and uplink["messages"] == ["put"]
    assert {"id": "car1", "cert_common_names": ["car1"]} in acl["subjects"]


def test_the_shipped_template_has_the_rules_certs_writes() -> None:
    """config/zenoh_cloud_tls.json5 is the template production fleets copy: its access control
    must be what `cloudseg certs` generates for car1 (it kept a rule letting robots publish
    on their own downlink after the generator was fixed)."""
    template = zenoh.Config.from_file(str(Path(__file__).parents[1] / "config" / "zenoh_cloud_tls.json5"))
    shipped = json.loads(template.get_json("access_control"))
    generated = json.loads(zenoh.Config.from_json5(json.dumps({"access_control": access_control(["car1"])}))
                           .get_json("access_control"))  # fmt: skip
    assert shipped == generated


def test_certs_command_writes_usable_configs(tmp_path: Path) -> None:
    assert cli(["certs", "--out", str(tmp_path), "--robots", "car1", "car2"]) == 0
    for name in (
        "ca.pem",
        "cloud.pem",
        "cloud.key",
        "car1.pem",
        "car1.key",
        "car2.key",
        "cloud.json5",
        "car2.json5",
    ):
        assert (tmp_path / name).is_file(), name
    assert oct((tmp_path / "car1.key").stat().st_mode)[-3:] == "600"
    (tmp_path / "car1.key").chmod(0o644)  # an old key, readable by others: replaced, not reused
    assert cli(["certs", "--out", str(tmp_path), "--robots", "car1", "car2", "--force"]) == 0
    assert oct((tmp_path / "car1.key").stat().st_mode)[-3:] == "600"
    for f in ("cloud.json5", "car1.json5"):
        zenoh.Config.from_file(str(tmp_path / f))  # zenoh itself accepts them
    assert cli(["certs", "--out", str(tmp_path / "x"), "--robots", "car1", "car1"]) == 1  # duplicate ids


def test_certs_refuses_to_replace_a_fleet_without_force(tmp_path: Path, capsys) -> None:
    """Re-run into a fleet's folder (the obvious way to "add a robot"), certs made a new CA and
    every deployed robot was locked out: its key is not kept, so the old fleet is lost."""
    assert cli(["certs", "--out", str(tmp_path), "--robots", "car1"]) == 0
    ca = (tmp_path / "ca.pem").read_bytes()
    capsys.readouterr()
    assert cli(["certs", "--out", str(tmp_path), "--robots", "car1", "car2"]) == 1
    err = capsys.readouterr().err
    assert "already holds a fleet (ca.pem); --force makes a NEW CA" in err, err
    assert "the CA's private key is not kept" in err and len(err.splitlines()) == 1, err
    assert (tmp_path / "ca.pem").read_bytes() == ca and not (tmp_path / "car2.pem").exists()
    assert cli(["certs", "--out", str(tmp_path), "--robots", "car1", "car2", "--force"]) == 0
    assert (tmp_path / "ca.pem").read_bytes() != ca and (tmp_path / "car2.pem").is_file()


@pytest.mark.parametrize(
    "robots,problem",
    [
        (["car1", "ca"], "robot id 'ca' is reserved"),  # its car.pem was the fleet's CA certificate
        (["cloud"], "robot id 'cloud' is reserved"),
        (["fleet/car1", "fleet_car1"], "robot id 'fleet_car1' and 'fleet/car1' share files fleet_car1.*"),
        (["car1", "/car1"], "robot id 'car1' is given twice"),
    ],
)
def test_certs_refuses_robot_ids_whose_files_collide(robots, problem, tmp_path: Path, capsys) -> None:
    assert cli(["certs", "--out", str(tmp_path / "f"), "--robots", *robots]) == 1
    err = capsys.readouterr().err
    assert problem in err, err
    assert not (tmp_path / "f").exists()  # refused before anything is written


def _session(config_file: Path | str, endpoint: str, mode: str = "client") -> zenoh.Session:
    return zenoh.open(
        build_config(ZenohSettings(mode=mode, connect=[endpoint], config_file=str(config_file)))
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory):
    certs = tmp_path_factory.mktemp("certs")
    assert cli(["certs", "--out", str(certs), "--robots", "car1", "car2", "--cloud-host", "localhost"]) == 0
    g = Graph(
        endpoint=f"tls/localhost:{free_port()}",
        cloud_overrides={"bridge": {"zenoh_config_file": str(certs / "cloud.json5")}},
        robot_overrides={"bridge": {"zenoh_config_file": str(certs / "car1.json5")}},
    )
    g.cloud.listen(Feedback, "/car1/cloudseg/feedback", RELIABLE)
    g.wait_served()
    yield certs, g
    g.close()


def test_client_without_certificate_is_refused(fleet) -> None:
    certs, g = fleet
    no_cert = certs / "anonymous.json5"
    no_cert.write_text(
        json.dumps({"transport": {"link": {"tls": {"root_ca_certificate": str(certs / "ca.pem")}}}})
    )
    with pytest.raises(zenoh.ZError):
        _session(no_cert, g.endpoint)


def test_robot_cannot_spoof_or_snoop_another(fleet) -> None:
    certs, g = fleet
    car2 = _session(certs / "car2.json5", g.endpoint)  # a VALID certificate, but car2's
    stolen: list[bytes] = []
    try:
        snoop = car2.declare_subscriber("car1/cloudseg/mask", lambda s: stolen.append(s.payload.to_bytes()))
        spoof = car2.declare_publisher("car1/cloudseg/uplink")
        own = car2.declare_publisher("car2/cloudseg/uplink", congestion_control=zenoh.CongestionControl.BLOCK)
        before = len(g.fresh())
        # The cloud-side observer's subscription may match after the first masks were served.
        assert wait_until(lambda: g.cloud.messages("/car1/cloudseg/feedback"), 30), "no feedback seen"
        errors_before = g.cloud.messages("/car1/cloudseg/feedback")[
            -1
        ].decode_errors  # start-up may count one
        for _ in range(20):
            spoof.put(b"\x00\x01\x00\x00 not a frame, and not car2's to send")
            own.put(b"\x00\x01\x00\x00 car2's own (malformed) frame")
            time.sleep(0.1)
        served = wait_until(lambda: len(g.fresh()) >= before + 10, 30)
        snoop.undeclare()
    finally:
        car2.close()
    assert stolen == [], "car2 read car1's masks"
    assert served, "car1 stopped being served"
    errors_after = g.cloud.messages("/car1/cloudseg/feedback")[-1].decode_errors
    assert errors_after == errors_before, "car2's spoofed frames reached car1's stream"
    # car2's own key was allowed, and its garbage counted
    assert wait_until(lambda: "car2" in g.group.log_text("cloud.cloud"), 20)
    assert not g.group.failed()


def test_a_robot_cannot_publish_on_its_own_downlink(fleet) -> None:
    """Masks and feedback reach a robot from the cloud only: a session holding car1's own
    certificate that puts a forged mask on car1/cloudseg/mask reaches no other car1 session
    (the downlink rule allowed put in both directions)."""
    certs, g = fleet
    forged = b"\x00\x01\x00\x00 forged mask"
    got: list[bytes] = []
    reader = _session(certs / "car1.json5", g.endpoint)
    writer = _session(certs / "car1.json5", g.endpoint)
    try:
        sub = reader.declare_subscriber("car1/cloudseg/mask", lambda s: got.append(s.payload.to_bytes()))
        pub = writer.declare_publisher("car1/cloudseg/mask", congestion_control=zenoh.CongestionControl.BLOCK)
        assert wait_until(lambda: len(got) >= 3, 30), "the cloud's own masks did not reach the reader"
        for _ in range(20):
            pub.put(forged)
            time.sleep(0.05)
        time.sleep(1.0)
        sub.undeclare()
    finally:
        writer.close()
        reader.close()
    assert forged not in got, f"{got.count(forged)} of 20 forged masks delivered"
    assert not g.group.failed()
