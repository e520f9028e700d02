"""Writing and reading ROS 2 recordings without ROS: MCAP files and rosbag2 folders.

Writer: CDR payloads (exactly the bytes on the wire, as rclpy's raw subscriptions hand
them over) into an MCAP file with the ``ros2`` profile, ``ros2msg`` schemas and ``cdr``
message encoding, zstd-compressed chunks: the layout rosbag2_storage_mcap writes, so
Foxglove, ``ros2 bag info/play`` (with the MCAP plugin) and mcap_ros2 read it.

Reader: an ``.mcap`` file, a rosbag2 folder (``metadata.yaml`` plus its ``.mcap`` or
``.db3`` files) or a single ``.db3`` file; messages come out in recording order as CDR
bytes, and :meth:`BagReader.decode` turns them into plain objects with the message's
fields (mcap_ros2's pure-Python decoder, from the schema the file carries; for ``.db3``
files that have none, from the installed message definitions). A bag recorded with
rosbag2's per-message zstd compression (``compression_mode: MESSAGE``) is decompressed
message by message.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cloudseg_ros import __version__
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.record.definitions import definition, full_name

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # a zstd frame; a CDR payload starts with 0x00 (its encapsulation)


class RecordingExists(ConfigError):
    """The output file exists and was not to be overwritten."""


class McapRecorder:
    """Appends CDR messages of any ROS 2 type to an MCAP file; thread-safe.

    An existing file is refused unless ``overwrite``: a recording is not lost to a second
    ``cloudseg record`` (or ``demo --record``) that names it by mistake. The check is the
    exclusive create itself, so nothing can slip in between a check and the open."""

    def __init__(self, path: str | Path, chunk_size: int = 4 << 20, overwrite: bool = False) -> None:
        from mcap.writer import CompressionType, Writer

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._file = open(self.path, "wb" if overwrite else "xb")  # noqa: SIM115 - closed in close()
        except FileExistsError:
            raise RecordingExists(
                f"{self.path} already exists: not overwritten (remove it, or name another file)"
            ) from None
        self._writer = Writer(self._file, chunk_size=chunk_size, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library=f"cloudseg_ros {__version__}")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, tuple[int, str]] = {}
        self._sequence: dict[str, int] = {}
        self._qos: dict[str, str] = {}
        self._lock = threading.Lock()
        self.messages = 0
        self.closed = False

    def _channel(self, topic: str, type_name: str) -> int:
        known = self._channels.get(topic)
        if known is not None:
            if known[1] != full_name(type_name):
                raise ValueError(f"{topic} was recorded as {known[1]}, not {type_name}")
            return known[0]
        name = full_name(type_name)
        schema = self._schemas.get(name)
        if schema is None:
            schema = self._schemas[name] = self._writer.register_schema(
                name=name, encoding="ros2msg", data=definition(name).encode()
            )
        metadata = {"offered_qos_profiles": self._qos[topic]} if topic in self._qos else {}
        channel = self._writer.register_channel(
            topic=topic, message_encoding="cdr", schema_id=schema, metadata=metadata
        )
        self._channels[topic] = (channel, name)
        return channel

    def set_qos(self, topic: str, offered_qos_profiles: str) -> None:
        """The QoS ``topic`` was published with (:func:`offered_qos_yaml`), for its channel's
        ``offered_qos_profiles``: ``ros2 bag play`` republishes with it (without it, everything
        reliable: a best-effort subscriber still matches, but not the other way round)."""
        with self._lock:
            self._qos[topic] = offered_qos_profiles

    def write(
        self, topic: str, type_name: str, data: bytes, log_time_ns: int, publish_time_ns: int | None = None
    ) -> None:
        """One message: ``log_time_ns`` when it was received, ``publish_time_ns`` (default the
        same) when it was sent; both nanoseconds since the epoch, as rosbag2 stores them."""
        with self._lock:
            if self.closed:
                return
            channel = self._channel(topic, type_name)
            seq = self._sequence[topic] = self._sequence.get(topic, 0) + 1
            self._writer.add_message(channel_id=channel, log_time=int(log_time_ns), data=bytes(data),
                                     publish_time=int(publish_time_ns or log_time_ns), sequence=seq)  # fmt: skip
            self.messages += 1

    def count(self, topic: str) -> int:
        """Messages written on ``topic`` so far."""
        with self._lock:
            return self._sequence.get(topic, 0)

    def close(self) -> None:
        """Finish the file: its summary and index make it seekable (``ros2 bag info``)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._writer.finish()
            self._file.close()

    def __enter__(self) -> McapRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def offered_qos_yaml(qos: Any) -> str:
    """An rclpy ``QoSProfile`` as rosbag2 writes ``offered_qos_profiles`` (a YAML list of one
    profile; policies by name and durations as sec/nsec: rosbag2's metadata version 9, what
    Jazzy and later write and read in an MCAP file without rosbag2's own metadata record)."""

    def duration(d: Any) -> dict[str, int]:
        sec, nsec = divmod(int(d.nanoseconds), 1_000_000_000)
        return {"sec": sec, "nsec": nsec}

    profile = {
        "history": qos.history.name.lower(),
        "depth": int(qos.depth),
        "reliability": qos.reliability.name.lower(),
        "durability": qos.durability.name.lower(),
        "deadline": duration(qos.deadline),
        "lifespan": duration(qos.lifespan),
        "liveliness": qos.liveliness.name.lower(),
        "liveliness_lease_duration": duration(qos.liveliness_lease_duration),
        "avoid_ros_namespace_conventions": bool(qos.avoid_ros_namespace_conventions),
    }
    return yaml.safe_dump([profile], sort_keys=False)


@dataclass(frozen=True)
class BagMessage:
    topic: str
    type_name: str  # pkg/msg/Type
    log_time_ns: int
    data: bytes  # CDR


class BagReader:
    """Messages of a recording, in log-time order per file, files in recording order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.files = _bag_files(self.path)
        self._decoders: dict[str, Callable[[bytes], Any]] = {}
        self._schemas: dict[str, str] = {}  # type -> ros2msg text found in the files
        self._topics: dict[str, str] = {}
        for f in self.files:
            self._topics.update(
                _mcap_topics(f, self._schemas) if f.suffix == ".mcap" else _db3_topics(f, self._schemas)
            )

    def topics(self) -> dict[str, str]:
        """topic -> message type (pkg/msg/Type)."""
        return dict(self._topics)

    def messages(self, topics: set[str] | None = None) -> Iterator[BagMessage]:
        for f in self.files:
            yield from (_mcap_messages(f, topics) if f.suffix == ".mcap" else _db3_messages(f, topics))

    def decode(self, msg: BagMessage) -> Any:
        """The message as an object with its fields (nested messages are objects too)."""
        decoder = self._decoders.get(msg.type_name)
        if decoder is None:
            from mcap.records import Schema
            from mcap_ros2.decoder import DecoderFactory

            text = self._schemas.get(msg.type_name) or definition(msg.type_name)
            schema = Schema(id=1, name=msg.type_name, encoding="ros2msg", data=text.encode())
            decoder = self._decoders[msg.type_name] = DecoderFactory().decoder_for("cdr", schema)
        return decoder(msg.data)


def _bag_files(path: Path) -> list[Path]:
    if path.is_file():
        if path.suffix not in (".mcap", ".db3"):
            raise ConfigError(f"{path}: not an MCAP (.mcap) or rosbag2 sqlite (.db3) file")
        return [path]
    if not path.is_dir():
        raise ConfigError(f"recording not found: {path}")
    meta = path / "metadata.yaml"
    if meta.is_file():
        info = (yaml.safe_load(meta.read_text()) or {}).get("rosbag2_bagfile_information", {})
        files = [path / Path(p).name for p in info.get("relative_file_paths", [])]
        mode, fmt = str(info.get("compression_mode", "") or ""), str(info.get("compression_format", "") or "")
        if mode.upper() == "MESSAGE" and fmt.lower() != "zstd":  # zstd messages: see _payload
            raise ConfigError(f"{path}: compression_mode MESSAGE with compression_format {fmt!r} is not read "
                              "(only zstd, the format rosbag2 ships)")  # fmt: skip
    else:  # split files without metadata.yaml: bag_2 before bag_10, as they were written
        from cloudseg_ros.camera.sources import _natural_key

        files = sorted([*path.glob("*.mcap"), *path.glob("*.db3")], key=_natural_key)
    files = [f for f in files if f.is_file()]
    if not files:
        raise ConfigError(f"{path}: a rosbag2 folder without .mcap or .db3 files")
    other = [f.name for f in files if f.suffix not in (".mcap", ".db3")]
    if other:  # e.g. a bag recorded with file-mode compression: x_0.mcap.zstd
        raise ConfigError(
            f"{path}: {', '.join(other)} is neither .mcap nor .db3 (a file-compressed bag is not read: "
            "decompress it first, e.g. `zstd -d FILE`, and list the result in metadata.yaml)"
        )
    return files


def _payload(path: Path, data: bytes) -> bytes:
    """The CDR bytes of a message: a zstd frame (rosbag2's ``compression_mode: MESSAGE``)
    is decompressed; CDR never starts with the zstd magic (its first byte is 0)."""
    if not data.startswith(ZSTD_MAGIC):
        return data
    import zstandard

    try:
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except zstandard.ZstdError as exc:
        raise ConfigError(f"{path}: a zstd-compressed message does not decompress ({exc})") from None


def _mcap_topics(path: Path, schemas: dict[str, str]) -> dict[str, str]:
    from mcap.reader import make_reader

    with open(path, "rb") as f:
        try:
            summary = make_reader(f).get_summary()
        except Exception:  # unreadable summary: scan the messages instead
            summary = None
    if summary is None:  # an unfinished file (the recording was killed): scan it
        return {m.topic: m.type_name for m in _mcap_messages(path, None, schemas)}
    out = {}
    for channel in summary.channels.values():
        schema = summary.schemas.get(channel.schema_id)
        if schema is not None:
            out[channel.topic] = full_name(schema.name)
            schemas.setdefault(full_name(schema.name), schema.data.decode())
    return out


def _mcap_messages(
    path: Path, topics: set[str] | None, schemas: dict[str, str] | None = None
) -> Iterator[BagMessage]:
    """Messages of one MCAP file, in file order (the order they were recorded).

    Records are streamed, so this needs no index and a file cut short (a recorder that was
    killed) yields every message of its complete chunks, wherever the cut fell (in a record's
    fixed fields too: ``struct.error``; in a chunk's compressed data: ``ZstdError``)."""
    import zstandard
    from mcap.exceptions import McapError
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader

    known: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    with open(path, "rb") as f:
        try:
            for record in StreamReader(f).records:
                if isinstance(record, Schema):
                    known[record.id] = record
                    if schemas is not None:
                        schemas.setdefault(full_name(record.name), record.data.decode())
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    channel = channels.get(record.channel_id)
                    schema = known.get(channel.schema_id) if channel else None
                    if channel and schema and (not topics or channel.topic in topics):
                        data = _payload(path, record.data)
                        yield BagMessage(channel.topic, full_name(schema.name), record.log_time, data)
        except ConfigError:
            raise
        except (McapError, EOFError, ValueError, struct.error, zstandard.ZstdError):
            return  # the end of a file cut short


def _db3_topics(path: Path, schemas: dict[str, str]) -> dict[str, str]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:  # `with db` alone leaves it open
        out = {name: full_name(t) for name, t in db.execute("SELECT name, type FROM topics")}
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "message_definitions" in tables:
            for t, enc, text in db.execute(
                "SELECT topic_type, encoding, encoded_message_definition FROM message_definitions"
            ):
                if enc == "ros2msg" and text:
                    schemas.setdefault(full_name(t), text)
    return out


def _db3_messages(path: Path, topics: set[str] | None) -> Iterator[BagMessage]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT t.name, t.type, m.timestamp, m.data FROM messages m JOIN topics t ON m.topic_id = t.id "
            "ORDER BY m.timestamp"
        )
        for name, type_name, stamp, data in rows:
            if not topics or name in topics:
                yield BagMessage(name, full_name(type_name), int(stamp), _payload(path, bytes(data)))
