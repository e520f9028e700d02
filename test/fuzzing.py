"""Hostile inputs for the cloud and the robot: a seeded generator and the committed corpus.

`python test/fuzzing.py --write test/fuzz_corpus` regenerates the corpus: the same cases for
the same seed, not byte for byte (the encoded frames inside come from the encoders as
installed, and two runs here differed; the committed corpus predates the 4:4:4 default, and
its H.264 cases stay valid hostile inputs). Each case is the raw payload a peer could put on a zenoh key: CDR garbage,
other message types, and well-formed EncodedFrame / SegmentationMask / Feedback messages
whose contents lie (absurd or zero sizes, truncated, bit-flipped or oversized bitstreams,
unknown codecs, sizes that disagree with the payload).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rclpy.serialization import serialize_message

from cloudseg_ros.codec import make_encoder
from cloudseg_ros.mask.codec import encode_mask
from cloudseg_ros.msg import EncodedFrame, Feedback, SegmentationMask
from cloudseg_ros.scene import DrivingScene

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
LR, HR = (64, 32), (256, 128)


@dataclass(frozen=True)
class Case:
    name: str
    stream: str  # "uplink" (robot -> cloud) or "mask" / "feedback" (cloud -> robot)
    payload: bytes


def _good_packets() -> tuple[list[bytes], bytes]:
    """A few real H.264 packets (key first) and a real JPEG of the embedded scene."""
    scene = DrivingScene(seed=11, width=HR[0], height=HR[1])
    images = [np.ascontiguousarray(scene.render(i).image[::4, ::4]) for i in range(3)]
    enc = make_encoder("h264", width=LR[0], height=LR[1], fps=10, bitrate_kbps=200)
    h264 = [enc.encode(img).data for img in images]
    jpeg = make_encoder("jpeg", width=LR[0], height=LR[1]).encode(images[0]).data
    return h264, jpeg


def frame(seq: int, data: bytes, **fields: object) -> EncodedFrame:
    f = EncodedFrame(robot_id="fuzz", seq=seq, codec="h264", key_frame=True, width=LR[0], height=LR[1])
    f.original_width, f.original_height = HR
    f.data = data
    f.encoded_size = len(data)
    for k, v in fields.items():
        setattr(f, k, v)
    return f


def _flip(data: bytes, rng: np.random.Generator, n: int) -> bytes:
    out = bytearray(data)
    for pos in rng.integers(0, len(out), n):
        out[pos] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def uplink_cases(rng: np.random.Generator) -> Iterator[Case]:
    h264, jpeg = _good_packets()
    key = h264[0]
    yield Case("cdr_random", "uplink", rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    yield Case("cdr_empty", "uplink", b"")
    yield Case("cdr_header_only", "uplink", b"\x00\x01\x00\x00")
    good = serialize_message(frame(1, key))
    yield Case("cdr_truncated", "uplink", good[: len(good) // 2])
    yield Case("cdr_bitflip", "uplink", _flip(good, rng, 20))
    yield Case("wrong_type_feedback", "uplink", serialize_message(Feedback(robot_id="fuzz", last_seq=3)))
    mask = SegmentationMask(width=HR[0], height=HR[1], encoding="png")
    mask.data = encode_mask(np.zeros(HR[::-1], np.uint8))
    yield Case("wrong_type_mask", "uplink", serialize_message(mask))
    lies = {
        "absurd_dims": {
            "width": 100000,
            "height": 100000,
            "original_width": 400000,
            "original_height": 400000,
        },
        "zero_dims": {"width": 0, "height": 0},
        "lr_bigger_than_hr": {"width": 512, "height": 256},
        "size_mismatch": {"encoded_size": 10},
        "unknown_codec": {"codec": "mpeg2"},
        "empty_codec": {"codec": ""},
        "codec_with_nul": {"codec": "h264\x00jpeg"},
        "bad_selection": {"selection": 7},
    }
    for name, fields in lies.items():
        yield Case(name, "uplink", serialize_message(frame(2, key, **fields)))
    yield Case("huge_seq", "uplink", serialize_message(frame(2**63 + 5, key)))
    yield Case("h264_truncated", "uplink", serialize_message(frame(3, key[: len(key) // 3])))
    yield Case("h264_bitflip", "uplink", serialize_message(frame(4, _flip(key, rng, 30))))
    yield Case("h264_no_start_code", "uplink", serialize_message(frame(5, key[4:])))
    yield Case(
        "h264_random",
        "uplink",
        serialize_message(frame(6, rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())),
    )
    yield Case("h264_p_frame_alone", "uplink", serialize_message(frame(7, h264[1], key_frame=True)))
    yield Case("h264_claims_other_size", "uplink", serialize_message(frame(8, key, width=128, height=64)))
    yield Case("jpeg_truncated", "uplink", serialize_message(frame(9, jpeg[: len(jpeg) // 2], codec="jpeg")))
    yield Case("jpeg_bitflip", "uplink", serialize_message(frame(10, _flip(jpeg, rng, 30), codec="jpeg")))
    yield Case(
        "jpeg_claims_other_size",
        "uplink",
        serialize_message(frame(11, jpeg, codec="jpeg", width=32, height=16)),
    )
    yield Case("jpeg_header_only", "uplink", serialize_message(frame(12, jpeg[:200], codec="jpeg")))


def oversized_case() -> Case:
    """Over the cloud's max_bytes (8 MB by default): generated at run time, not committed."""
    return Case(
        "oversized_payload", "uplink", serialize_message(frame(13, b"\x00\x00\x00\x01" + bytes(9_000_000)))
    )


def downlink_cases(rng: np.random.Generator) -> Iterator[Case]:
    """What a broken or hostile cloud could send a robot."""
    png = encode_mask(np.zeros(HR[::-1], np.uint8))
    for name, fields in {
        "mask_absurd_size": {"width": 100000, "height": 100000},
        "mask_size_mismatch": {"width": 128, "height": 64},
        "mask_not_png": {"data": b"\xff\xd8\xff" + bytes(100)},
        "mask_truncated": {"data": png[: len(png) // 2]},
        "mask_bitflip": {"data": _flip(png, rng, 10)},
        "mask_wrong_encoding": {"encoding": "jpeg"},
    }.items():
        m = SegmentationMask(robot_id="car1", seq=1, width=HR[0], height=HR[1], encoding="png")
        m.data = png
        for k, v in fields.items():
            setattr(m, k, v)
        yield Case(name, "mask", serialize_message(m))
    yield Case("mask_cdr_random", "mask", rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    yield Case("feedback_cdr_random", "feedback", rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
    yield Case(
        "feedback_huge_seq", "feedback", serialize_message(Feedback(robot_id="car1", last_seq=2**64 - 1))
    )


def mutations(seed: int, count: int) -> Iterator[Case]:
    """``count`` further uplink inputs: random truncations and bit flips of real frames."""
    rng = np.random.default_rng(seed)
    h264, jpeg = _good_packets()
    for i in range(count):
        codec = "jpeg" if i % 3 == 0 else "h264"
        data = jpeg if codec == "jpeg" else h264[i % len(h264)]
        if rng.random() < 0.5:
            data = data[: int(rng.integers(1, len(data)))]
        data = _flip(data, rng, int(rng.integers(1, 40)))
        msg = serialize_message(frame(100 + i, data, codec=codec))
        if rng.random() < 0.2:
            msg = _flip(msg, rng, 4)  # the CDR around it too
        yield Case(f"mutation_{i}", "uplink", msg)


def write_corpus(out: Path, seed: int = 0) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = [*uplink_cases(rng), *downlink_cases(rng)]
    out.mkdir(parents=True, exist_ok=True)
    for c in cases:
        (out / f"{c.name}.bin").write_bytes(c.payload)
    (out / "index.json").write_text(json.dumps({c.name: c.stream for c in cases}, indent=1) + "\n")
    return cases


def load_corpus(directory: Path = CORPUS) -> list[Case]:
    index = json.loads((directory / "index.json").read_text())
    return [Case(name, stream, (directory / f"{name}.bin").read_bytes()) for name, stream in index.items()]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, default=CORPUS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"wrote {len(write_corpus(args.write, args.seed))} cases to {args.write}")
