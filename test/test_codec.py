"""Codec layer with the real codecs (libx264, libx265 via PyAV; libjpeg-turbo via simplejpeg).

Verified, on small synthetic frames (numpy: smooth gradients + texture, scrolling, a moving box):
- round trip quality per codec (PSNR floor), one packet per frame for 30 frames, and the decoder
  returning each frame from the same decode() call (the decoded picture is that frame's, not
  the previous one's): neither side holds a frame back;
- key frames only at the GOP boundary or when forced; a forced key frame is an IDR (H.264 NAL 5,
  H.265 NAL 19/20) that a FRESH decoder decodes mid-stream;
- loss handling: after a dropped packet and reset() the next P-frame is refused ("waiting for key
  frame") and the next key frame recovers; any rejected packet makes the decoder wait for a key;
- a bitrate change (also a 20x drop on a noisy stream) applies from the next frame, which is an
  IDR of the reopened encoder, and the stream stays decodable; JPEG quality applies at once;
- malformed input: empty, truncated, bit-flipped, garbage, non-Annex-B, oversized and wrong-size
  payloads raise PayloadError; a seeded loop of mutations per codec runs in a child process with
  a time limit, so a crash or hang fails the test instead of killing the run;
- header limits reject absurd sizes before any decoding; odd sizes and bad parameters raise
  ConfigError naming the value; JPEG header/claim size mismatch is rejected.
Not verified here: speed (bench/edge.py), behaviour on real camera video, corruption that still
parses and has no checksum to fail (flipped bits inside JPEG or H.264 slice data can decode to a
damaged picture; H.265 carries a picture hash, so there it is caught).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from cloudseg_ros.codec import (
    CODECS,
    EncodedPacket,
    PayloadLimits,
    jpeg_header_size,
    make_decoder,
    make_encoder,
    validate_frame_header,
)
from cloudseg_ros.codec.limits import nal_unit_types
from cloudseg_ros.errors import ConfigError, PayloadError
from cloudseg_ros.metrics import psnr

W, H = 128, 64
VIDEO = ("h264", "h265")


def panorama(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients, a luma texture (blurred noise) and hard edges, uint8 RGB.

    The texture is grey: fine colour detail would be lost by 4:2:0 chroma subsampling in every
    codec alike and only blur the comparison.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    smooth = 110 + 50 * np.sin(x / 19.0) + 35 * np.cos(y / 11.0 + x / 53.0)
    noise = rng.normal(0, 1, (height, width)).astype(np.float32)
    texture = 20 * (noise + np.roll(noise, 1, 0) + np.roll(noise, 1, 1) + np.roll(noise, (1, 1), (0, 1))) / 2
    edges = 40 * ((x // 24 + y // 16) % 2)
    luma = texture + edges
    rgb = np.stack([smooth + luma, 0.8 * smooth + 20 + luma, 255 - 0.7 * smooth + luma], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def sequence(n: int, width: int = W, height: int = H, noise: float = 0.0, seed: int = 0) -> list[np.ndarray]:
    """Frames scrolling 3 px/frame over a panorama, with a box moving the other way."""
    pano = panorama(width + 3 * n, height, seed)
    rng = np.random.default_rng(seed + 1)
    frames = []
    for t in range(n):
        f = pano[:, 3 * t : 3 * t + width].copy()
        bx = (width - 20 - 4 * t) % (width - 20)  # even: a chroma-aligned box edge
        f[height // 4 : height // 4 + 16, bx : bx + 20] = (230, 40, 40)
        if noise:
            f = np.clip(f + rng.normal(0, noise, f.shape), 0, 255).astype(np.uint8)
        frames.append(f)
    return frames


def encode_all(
    codec: str, frames: list[np.ndarray], force: set[int] = frozenset(), **kw
) -> list[EncodedPacket]:
    enc = make_encoder(codec, width=frames[0].shape[1], height=frames[0].shape[0], **kw)
    with enc:
        return [enc.encode(f, force_key=i in force) for i, f in enumerate(frames)]


def idr_in(codec: str, data: bytes) -> bool:
    types = set(nal_unit_types(codec, data))
    return 5 in types if codec == "h264" else bool(types & {19, 20})


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return sequence(30)


@pytest.fixture(scope="module")
def streams(frames: list[np.ndarray]) -> dict[str, list[EncodedPacket]]:
    """Each codec's packets for the 30 frames: GOP 10, extra key forced at frame 14."""
    return {c: encode_all(c, frames, force={14}, gop=10, bitrate_kbps=400) for c in CODECS}


# -- round trip, latency, key frames ------------------------------------------------------------


@pytest.mark.parametrize(("codec", "floor_db"), [("h264", 34.0), ("h265", 34.0), ("jpeg", 30.0)])
def test_round_trip_psnr_and_same_call_decode(
    codec: str, floor_db: float, frames: list[np.ndarray], streams: dict[str, list[EncodedPacket]]
) -> None:
    dec = make_decoder(codec)
    for i, (frame, pkt) in enumerate(zip(frames, streams[codec], strict=True)):
        assert (pkt.codec, pkt.width, pkt.height) == (codec, W, H)
        out = dec.decode(pkt.data, W, H)  # returns this packet's frame now: nothing held back
        assert out.shape == (H, W, 3) and out.dtype == np.uint8
        own = psnr(frame, out)
        assert own > floor_db, f"frame {i}: {own:.1f} dB"
        if i:  # the picture is frame i's, not frame i-1's (that would be a one-frame lag)
            assert own > psnr(frames[i - 1], out) + 8


@pytest.mark.parametrize("codec", CODECS)
def test_yuv444_keeps_the_colour_that_yuv420_halves(codec: str) -> None:
    """Fine colour detail (1-pixel colour stripes over flat luma): 4:2:0 averages it away
    whatever the bitrate, 4:4:4 keeps it; both streams decode in an ordinary decoder."""
    x = np.arange(W)[None, :, None]
    stripes = np.where(x % 2, [200, 60, 60], [60, 60, 200]).astype(np.uint8)
    frame = np.ascontiguousarray(np.broadcast_to(stripes, (H, W, 3)))
    got = {}
    for chroma in ("yuv420", "yuv444"):
        pkt = encode_all(codec, [frame], chroma=chroma, bitrate_kbps=4000, jpeg_quality=95)[0]
        got[chroma] = psnr(frame, make_decoder(codec).decode(pkt.data, W, H))
    assert got["yuv444"] > got["yuv420"] + 6, got


@pytest.mark.parametrize("codec", CODECS)
def test_one_packet_per_frame(codec: str, frames: list[np.ndarray]) -> None:
    enc = make_encoder(codec, width=W, height=H)
    for frame in frames:
        pkt = enc.encode(frame)  # the packet of THIS frame, in the same call
        assert isinstance(pkt, EncodedPacket) and pkt.data
    enc.close()
    with pytest.raises(RuntimeError, match="closed"):
        enc.encode(frames[0])


@pytest.mark.parametrize("codec", VIDEO)
def test_key_frames_only_at_gop_or_forced(codec: str, streams: dict[str, list[EncodedPacket]]) -> None:
    keys = [i for i, p in enumerate(streams[codec]) if p.key_frame]
    assert keys == [0, 10, 14, 24]  # GOP 10 counts from the forced key at 14
    assert all(idr_in(codec, streams[codec][i].data) for i in keys)


def test_jpeg_every_frame_is_key(streams: dict[str, list[EncodedPacket]]) -> None:
    assert all(p.key_frame for p in streams["jpeg"])


@pytest.mark.parametrize("codec", VIDEO)
def test_forced_key_decodes_in_fresh_decoder(
    codec: str, frames: list[np.ndarray], streams: dict[str, list[EncodedPacket]]
) -> None:
    fresh = make_decoder(codec)
    assert fresh.needs_key_frame
    with pytest.raises(PayloadError, match="waiting for key frame"):
        fresh.decode(streams[codec][13].data, W, H)
    for i in range(14, 20):  # the forced IDR, then the P-frames that follow it
        out = fresh.decode(streams[codec][i].data, W, H)
        assert psnr(frames[i], out) > 34
    assert not fresh.needs_key_frame


@pytest.mark.parametrize("codec", VIDEO)
def test_dropped_frame_then_reset_waits_for_key(
    codec: str, frames: list[np.ndarray], streams: dict[str, list[EncodedPacket]]
) -> None:
    dec = make_decoder(codec)
    packets = streams[codec]
    for i in range(0, 5):
        dec.decode(packets[i].data, W, H)
    # Packet 5 is lost. The caller sees the sequence gap and resets; the next P is refused.
    dec.reset()
    assert dec.needs_key_frame
    for i in range(6, 10):
        with pytest.raises(PayloadError, match="waiting for key frame"):
            dec.decode(packets[i].data, W, H)
    out = dec.decode(packets[10].data, W, H)  # GOP key frame: recovered
    assert not dec.needs_key_frame
    assert psnr(frames[10], out) > 34
    assert psnr(frames[11], dec.decode(packets[11].data, W, H)) > 34


@pytest.mark.parametrize("codec", VIDEO)
def test_rejected_packet_makes_decoder_wait_for_key(
    codec: str, streams: dict[str, list[EncodedPacket]]
) -> None:
    dec = make_decoder(codec)
    packets = streams[codec]
    dec.decode(packets[0].data, W, H)
    with pytest.raises(PayloadError):
        dec.decode(b"\x00\x00\x00\x01" + bytes(50), W, H)
    assert dec.needs_key_frame
    with pytest.raises(PayloadError, match="waiting for key frame"):
        dec.decode(packets[1].data, W, H)
    dec.decode(packets[10].data, W, H)
    assert not dec.needs_key_frame


# -- rate control -------------------------------------------------------------------------------


def _mean_size(packets: list[EncodedPacket]) -> float:
    return float(np.mean([len(p.data) for p in packets]))


@pytest.mark.parametrize("codec", VIDEO)
@pytest.mark.parametrize(("high", "low", "noise"), [(200, 50, 6.0), (2000, 100, 40.0)])
def test_bitrate_change_takes_effect_on_next_frame(codec: str, high: int, low: int, noise: float) -> None:
    """A controller stepping down must get the new rate at once, even after a 20x drop on a
    stream full of noise; the change reopens the encoder, so the next frame is an IDR."""
    noisy = sequence(40, noise=noise, seed=3)  # noise: every frame costs what the rate allows
    enc = make_encoder(codec, width=W, height=H, fps=10, bitrate_kbps=high, gop=100)
    before = [enc.encode(f) for f in noisy[:20]]
    enc.set_bitrate(low)
    after = [enc.encode(f) for f in noisy[20:]]
    assert _mean_size(after[3:]) < 0.5 * _mean_size(before[5:])
    assert enc.restarts == 1 and after[0].key_frame and idr_in(codec, after[0].data)
    assert not any(p.key_frame for p in after[1:])
    assert enc.bitrate_kbps == low
    dec = make_decoder(codec)
    for p in [*before, *after]:
        dec.decode(p.data, W, H)  # the restarted stream stays decodable by the same decoder


def test_jpeg_quality_takes_effect_immediately(frames: list[np.ndarray]) -> None:
    enc = make_encoder("jpeg", width=W, height=H, jpeg_quality=90)
    high = len(enc.encode(frames[0]).data)
    enc.set_quality(20)
    assert len(enc.encode(frames[0]).data) < 0.5 * high
    with pytest.raises(ConfigError, match="jpeg_quality"):
        enc.set_quality(0)


# -- bad parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", VIDEO)
def test_odd_size_rejected_with_clear_message(codec: str) -> None:
    with pytest.raises(ConfigError, match=r"even width and height.*255x128.*even_size"):
        make_encoder(codec, width=255, height=128)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"codec": "vp9"}, "codec 'vp9' unknown; must be one of: h264, h265, jpeg"),
        ({"preset": "turbo"}, "preset 'turbo' unknown"),
        ({"bitrate_kbps": 0}, "bitrate_kbps"),
        ({"gop": 0}, "gop"),
        ({"fps": 0}, "fps"),
        ({"codec": "jpeg", "jpeg_quality": 101}, "jpeg_quality"),
        ({"codec": "h265", "width": 8, "height": 8}, "libx265 refused 8x8"),
        ({"chroma": "yuv422"}, "chroma 'yuv422' unknown; must be one of: yuv420, yuv444"),
        ({"codec": "jpeg", "chroma": "444"}, "chroma '444' unknown"),
    ],
)
def test_bad_encoder_parameters(kwargs: dict, match: str) -> None:
    args = {"codec": "h264", "width": W, "height": H, **kwargs}
    with pytest.raises(ConfigError, match=match):
        make_encoder(args.pop("codec"), **args)


def test_set_bitrate_out_of_range() -> None:
    with pytest.raises(ConfigError, match="bitrate_kbps"):
        make_encoder("h264", width=W, height=H).set_bitrate(-5)


@pytest.mark.parametrize("codec", CODECS)
def test_wrong_input_frame_rejected(codec: str) -> None:
    enc = make_encoder(codec, width=W, height=H)
    with pytest.raises(ValueError, match=r"\(64, 128, 3\) uint8"):
        enc.encode(np.zeros((H, W + 2, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        enc.encode(np.zeros((H, W, 3), np.float32))


# -- malformed payloads -------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_malformed_payloads_raise_payload_error(codec: str, streams: dict[str, list[EncodedPacket]]) -> None:
    key = streams[codec][0].data
    rng = np.random.default_rng(7)
    cases = {
        "empty": b"",
        "truncated key": key[: len(key) // 3],
        "garbage": rng.integers(0, 256, 500, dtype=np.uint8).tobytes(),
        "zeros": bytes(300),
        "start code + garbage": b"\x00\x00\x00\x01" + rng.integers(0, 256, 500, dtype=np.uint8).tobytes(),
        "jpeg SOI + garbage": b"\xff\xd8\xff" + rng.integers(0, 256, 500, dtype=np.uint8).tobytes(),
    }
    for name, data in cases.items():
        dec = make_decoder(codec)
        with pytest.raises(PayloadError):
            dec.decode(data, W, H)
        assert dec.needs_key_frame, name
        dec.decode(key, W, H)  # still usable afterwards


@pytest.mark.parametrize("codec", VIDEO)
def test_truncated_and_flipped_p_frames_rejected(codec: str, streams: dict[str, list[EncodedPacket]]) -> None:
    packets = streams[codec]
    dec = make_decoder(codec)
    dec.decode(packets[0].data, W, H)
    dec.decode(packets[1].data, W, H)
    with pytest.raises(PayloadError):
        dec.decode(packets[2].data[:10], W, H)  # cut inside the slice header
    assert dec.needs_key_frame


def test_h264_concealed_errors_rejected(streams: dict[str, list[EncodedPacket]]) -> None:
    """A P-frame cut in its slice data decodes with concealment; H.264 flags that, we refuse it."""
    packets = streams["h264"]
    rejected = 0
    for cut in (0.5, 0.7, 0.9):
        dec = make_decoder("h264")
        dec.decode(packets[0].data, W, H)
        try:
            dec.decode(packets[1].data[: int(len(packets[1].data) * cut)], W, H)
        except PayloadError:
            rejected += 1
    assert rejected == 3


def test_non_annexb_payload_rejected_before_decoding(streams: dict[str, list[EncodedPacket]]) -> None:
    data = streams["h264"][0].data
    avcc = len(data).to_bytes(4, "big") + data[4:]  # length-prefixed (MP4 style) instead of a start code
    with pytest.raises(PayloadError, match="start code"):
        make_decoder("h264").decode(avcc, W, H)


@pytest.mark.parametrize("codec", CODECS)
def test_claimed_size_must_match_bitstream(codec: str, streams: dict[str, list[EncodedPacket]]) -> None:
    key = streams[codec][0].data
    dec = make_decoder(codec)
    for w, h in [(W // 2, H // 2), (W, H + 16), (2 * W, 2 * H)]:
        with pytest.raises(PayloadError):
            dec.decode(key, w, h)
    assert dec.decode(key, W, H).shape == (H, W, 3)


def test_jpeg_header_mismatch_rejected(streams: dict[str, list[EncodedPacket]]) -> None:
    data = streams["jpeg"][0].data
    assert jpeg_header_size(data) == (W, H)
    with pytest.raises(PayloadError, match=f"JPEG is {W}x{H}, header claims {W}x{H + 2}"):
        make_decoder("jpeg").decode(data, W, H + 2)


@pytest.mark.parametrize("codec", CODECS)
def test_oversized_payload_rejected(codec: str, streams: dict[str, list[EncodedPacket]]) -> None:
    key = streams[codec][0].data
    dec = make_decoder(codec, PayloadLimits(max_bytes=len(key) - 1))
    with pytest.raises(PayloadError, match="over the limit"):
        dec.decode(key, W, H)


@pytest.mark.parametrize("codec", CODECS)
def test_bytes_like_payloads_accepted(codec: str, streams: dict[str, list[EncodedPacket]]) -> None:
    key = streams[codec][0].data
    assert make_decoder(codec).decode(bytearray(key), W, H).shape == (H, W, 3)
    assert make_decoder(codec).decode(memoryview(key), W, H).shape == (H, W, 3)


# -- header limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("h264", 100_000, 100_000, 1000, 100_000, 100_000), "frame size 100000x100000 outside"),
        (("h264", 0, 64, 1000, 512, 256), "frame size 0x64"),
        (("h264", 128, 64, 0, 512, 256), "empty payload"),
        (("h264", 128, 64, 9_000_000, 512, 256), "over the limit"),
        (("mjpeg", 128, 64, 1000, 512, 256), "unknown codec 'mjpeg'"),
        (("h264", 128, 64, 1000, 64, 256), "smaller than encoded"),
        (("jpeg", 128, 64, 1000, 100_000, 100_000), "original size 100000x100000 outside"),
        # a thumbnail claiming a camera the edge never downscales that far (x16 at most): the
        # cloud would segment a 4096x4096 frame from it, every other robot waiting meanwhile
        (("jpeg", 16, 16, 634, 4096, 4096), "over 16x the encoded 16x16"),
    ],
)
def test_validate_frame_header_rejects(args: tuple, match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        validate_frame_header(*args, PayloadLimits())


def test_the_cloud_nodes_size_limits_bound_the_camera_too() -> None:
    """max_width/max_height of the cloud node: a 16x16 frame claiming an 8192x8192 camera
    would have the cloud upscale and segment at 8192x8192 (an ~800 MB float frame)."""
    limits = PayloadLimits.camera(1024, 1024, 8_000_000)
    validate_frame_header("jpeg", 256, 128, 500, 1024, 512, limits)
    with pytest.raises(PayloadError, match="original size 8192x8192 outside"):
        validate_frame_header("jpeg", 16, 16, 500, 8192, 8192, limits)


def test_validate_frame_header_accepts_sane_frame() -> None:
    validate_frame_header("h264", 512, 256, 14_000, 2048, 1024, PayloadLimits())
    # the edge's largest downscale of an odd camera size: floor, then an even size
    validate_frame_header("jpeg", 64, 32, 500, 1039, 527, PayloadLimits())


@pytest.mark.parametrize("codec", CODECS)
def test_absurd_size_rejected_before_decoding(
    codec: str, streams: dict[str, list[EncodedPacket]], monkeypatch: pytest.MonkeyPatch
) -> None:
    dec = make_decoder(codec)

    def must_not_run(*_: object) -> np.ndarray:
        raise AssertionError("decoder reached with an absurd size")

    monkeypatch.setattr(dec, "_decode", must_not_run)
    with pytest.raises(PayloadError, match="outside"):
        dec.decode(streams[codec][0].data, 100_000, 100_000)


# -- mutation loop in a child process (a crash or hang fails the test, not the run) --------------

FUZZ_CASES = 300
FUZZ_TIME_LIMIT_S = 120


def fuzz(codec: str, seed: int, cases: int) -> dict[str, int]:
    """Decode ``cases`` mutated packets; count outcomes. Anything but a frame of the claimed size
    or PayloadError propagates (and fails the parent test)."""
    rng = np.random.default_rng(seed)
    packets = encode_all(codec, sequence(12, seed=seed), gop=6)
    dec = make_decoder(codec)
    counts = {"decoded": 0, "rejected": 0, "reached_decoder": 0}
    backend = dec._decode
    mutated = False

    def counting_decode(data: bytes, width: int, height: int) -> np.ndarray:
        counts["reached_decoder"] += mutated  # passed the cheap checks, fed to the real decoder
        return backend(data, width, height)

    dec._decode = counting_decode  # type: ignore[method-assign]
    for _ in range(cases):
        i = int(rng.integers(len(packets)))
        data = bytearray(packets[i].data)
        kind = int(rng.integers(6))
        if kind == 0:  # truncate
            data = data[: int(rng.integers(1, len(data)))]
        elif kind == 1:  # flip a few bits
            for pos in rng.integers(0, len(data), int(rng.integers(1, 9))):
                data[pos] ^= 1 << int(rng.integers(8))
        elif kind == 2:  # overwrite a run with random bytes
            a = int(rng.integers(len(data)))
            run = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
            data[a : a + len(run)] = run
        elif kind == 3:  # splice two packets
            other = packets[int(rng.integers(len(packets)))].data
            data = data[: int(rng.integers(1, len(data)))] + other[int(rng.integers(len(other))) :]
        elif kind == 4:  # insert or delete a run
            a = int(rng.integers(len(data)))
            if rng.integers(2):
                data[a:a] = rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8).tobytes()
            else:
                del data[a : a + int(rng.integers(1, 32))]
        else:  # pure garbage
            data = bytearray(rng.integers(0, 256, int(rng.integers(1, 2000)), dtype=np.uint8).tobytes())
        # Resynchronise first, so mutated P-frames reach the decoder instead of "waiting for key".
        for j in range(i - i % 6, i):
            dec.decode(packets[j].data, W, H)
        mutated = True
        try:
            out = dec.decode(bytes(data), W, H)
        except PayloadError:
            counts["rejected"] += 1
        else:
            assert out.shape == (H, W, 3)
            counts["decoded"] += 1
        mutated = False
    return counts


@pytest.mark.parametrize("codec", CODECS)
def test_mutation_loop_never_crashes_or_hangs(codec: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, __file__, codec, "1234", str(FUZZ_CASES)],
        capture_output=True,
        text=True,
        timeout=FUZZ_TIME_LIMIT_S,
        env=env,
        check=False,
    )
    assert result.returncode == 0, f"child died (rc {result.returncode}): {result.stderr[-2000:]}"
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["decoded"] + counts["rejected"] == FUZZ_CASES
    assert counts["rejected"] > FUZZ_CASES // 3
    assert counts["reached_decoder"] > FUZZ_CASES // 3  # the mutations really exercised the decoder
    assert time.monotonic() - start < FUZZ_TIME_LIMIT_S


if __name__ == "__main__":  # the child process of test_mutation_loop_never_crashes_or_hangs
    print(json.dumps(fuzz(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
