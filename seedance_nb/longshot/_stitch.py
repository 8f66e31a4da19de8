"""Stitching shots into one MP4: packets copied when the clips' streams match, re-encoded only
when they must be.

At each join the later shot's first frame repeats the earlier shot's last (it was made from
it), so one of the two goes. Remuxing drops the earlier clip's last packet, which nothing can
reference when the stream has no reordered (B) frames; the later clip keeps its keyframe. A
stream with reordered frames, or clips that differ in codec, size, pixel format, frame rate or
codec setup, are re-encoded instead (dropping the later clip's first frame). A crossfade blends
`crossfade` seconds at each join, re-encoding only around the joins when the clips allow it
(`_splice`), else the whole video.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ._seams import planes


class Mismatch(Exception):
    """The clips cannot be joined by copying packets: their streams differ, or reorder."""


def _signature(stream: Any) -> tuple[Any, ...]:
    """What must match for packets to be copied: codec, size, pixel format, time base, frame
    rate and the codec's setup bytes (all from the header)."""
    ctx = stream.codec_context
    return (
        ctx.name,
        ctx.width,
        ctx.height,
        ctx.pix_fmt,
        stream.time_base,
        stream.average_rate,
        bytes(ctx.extradata or b""),
    )


def _temporary(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest.with_name(f".{dest.name}.tmp")


def remux(paths: Sequence[Path], dest: Path) -> Path:
    """Join matching clips by packet copy, dropping each earlier clip's last packet.

    Raises Mismatch (and leaves nothing at `dest`) when they cannot be: a stream unlike the
    first clip's, or one with reordered frames."""

    tmp = _temporary(dest)
    try:
        _copy(paths, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)
    return dest


def _sound(stream: Any) -> tuple[Any, ...]:
    """What must match for audio packets to be copied from clip to clip."""
    ctx = stream.codec_context
    return (ctx.name, ctx.sample_rate, ctx.channels, stream.time_base, bytes(ctx.extradata or b""))


def _copy(paths: Sequence[Path], tmp: Path) -> None:
    import contextlib

    import av

    with contextlib.ExitStack() as stack:
        sources = [stack.enter_context(av.open(str(path))) for path in paths]  # each opened once
        first = _signature(sources[0].streams.video[0])
        for path, src in zip(paths, sources, strict=True):
            video = src.streams.video[0]
            if video.codec_context.has_b_frames or _signature(video) != first:
                raise Mismatch(path)
        kinds = {_sound(src.streams.audio[0]) if src.streams.audio else None for src in sources}
        sound = len(kinds) == 1 and None not in kinds  # every clip's sound alike: carried along
        out = stack.enter_context(
            av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
        )
        video_out = out.add_stream_from_template(sources[0].streams.video[0])
        audio_out = out.add_stream_from_template(sources[0].streams.audio[0]) if sound else None
        offset = 0  # where the next clip starts, in the video's time base
        for n, (path, src) in enumerate(zip(paths, sources, strict=True)):
            stream = src.streams.video[0]
            audio = src.streams.audio[0] if sound else None
            wanted = [stream] if audio is None else [stream, audio]
            packets, sounds = [], []
            for p in src.demux(*wanted):
                if p.dts is not None:
                    (packets if p.stream.type == "video" else sounds).append(p)
            if any(p.pts is not None and p.pts != p.dts for p in packets):
                raise Mismatch(path)  # reordered after all: the header did not say
            if n < len(paths) - 1 and packets:
                packets = packets[:-1]  # its last frame is the next clip's first
            step = packets[1].dts - packets[0].dts if len(packets) > 1 else 1
            start = packets[0].dts if packets else 0
            end = offset
            for packet in packets:
                packet.dts = packet.dts - start + offset
                packet.pts = packet.dts if packet.pts is None else packet.pts - start + offset
                end = max(end, packet.pts + (packet.duration or step))
                packet.stream = video_out
                out.mux(packet)
            if audio is not None and sounds:
                _copy_sound(out, audio_out, sounds, audio.time_base, stream.time_base, offset, end)
            offset = end


def _copy_sound(
    out: Any, stream: Any, packets: list[Any], atb: Any, vtb: Any, begin: int, end: int
) -> None:
    """A clip's audio packets, moved to where its video now starts and cut where it now ends
    (the dropped frame's sound goes with it)."""
    start = packets[0].dts
    shift = round(begin * vtb / atb)
    limit = round(end * vtb / atb)
    for packet in packets:
        dts = packet.dts - start + shift
        if dts >= limit:
            break
        pts = dts if packet.pts is None else packet.pts - start + shift
        packet.dts, packet.pts = dts, pts
        packet.stream = stream
        out.mux(packet)


def _decoded(paths: Sequence[Path], width: int, height: int) -> Iterator[list[Any]]:
    """Each clip's frames as yuv420p at the first clip's size (the repeat already dropped)."""
    import av

    for n, path in enumerate(paths):
        with av.open(str(path)) as src:
            stream = src.streams.video[0]
            stream.thread_type = "AUTO"
            frames = [
                f.reformat(width=width, height=height, format="yuv420p") for f in src.decode(stream)
            ]
        yield frames[1:] if n > 0 else frames


def _blend(a: Any, b: Any, weight: float) -> Any:
    """A new yuv420p frame: a * (1 - weight) + b * weight."""
    import av

    out = av.VideoFrame(a.width, a.height, "yuv420p")
    for dst, x, y in zip(planes(out), planes(a), planes(b), strict=True):
        dst[...] = np.rint(x * (1 - weight) + y * weight).astype(np.uint8)
    return out


def reencode(paths: Sequence[Path], dest: Path, crossfade: float = 0.0) -> Path:
    """Join any clips by decoding and encoding again (H.264, the first clip's size and rate);
    with `crossfade` seconds, each join blends that long on both sides."""
    import av

    from ..simulator._render import encoder

    with av.open(str(paths[0])) as first:
        stream = first.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = stream.average_rate or Fraction(24)
    fade = round(float(rate) * crossfade)
    tmp = _temporary(dest)
    name = encoder()
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream(name, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if name == "libx264":
            video.options = {"preset": "veryfast", "crf": "20"}
        count = 0
        held: list[Any] = []  # the previous clip's last `fade` frames, blended at the join

        def emit(frame: Any) -> None:
            nonlocal count
            frame.pts, frame.time_base = count, 1 / rate
            frame.pict_type = av.video.frame.PictureType.NONE  # the encoder picks its own
            out.mux(video.encode(frame))
            count += 1

        for frames in _decoded(paths, width, height):
            if held:
                k = min(len(held), len(frames))
                for i in range(k):
                    emit(_blend(held[i], frames[i], (i + 1) / (k + 1)))
                frames = frames[k:]
            held = frames[-fade:] if fade and len(frames) > fade else []
            for frame in frames[: len(frames) - len(held)]:
                emit(frame)
        for frame in held:
            emit(frame)
        out.mux(video.encode())
    os.replace(tmp, dest)
    return dest


def has_audio(paths: Sequence[Path]) -> bool:
    """Whether any clip carries sound (kept only when remuxing clips whose sound is alike)."""
    import av

    for path in paths:
        with av.open(str(path)) as container:
            if container.streams.audio:
                return True
    return False


def stitch(paths: Sequence[Path], dest: Path, crossfade: float = 0.0) -> tuple[Path, str]:
    """Join the clips into `dest`; returns it and how: "remux", "splice" or "re-encode".

    Remuxing carries the clips' sound along when every clip has alike audio; splicing and
    re-encoding join the video only."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("nothing to stitch: no shot has a video yet")
    if crossfade <= 0:
        try:
            return remux(paths, Path(dest)), "remux"
        except Mismatch:
            pass
    elif len(paths) > 1:
        from ._splice import splice

        try:
            return splice(paths, Path(dest), _fade_frames(paths[0], crossfade)), "splice"
        except Mismatch:
            pass
    return reencode(paths, Path(dest), crossfade), "re-encode"


def _fade_frames(path: Path, seconds: float) -> int:
    import av

    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate or Fraction(24)
    return max(1, round(float(rate) * seconds))
