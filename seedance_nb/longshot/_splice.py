"""A crossfade that re-encodes only around the seams, copying every other packet.

Around each join it decodes from the earlier clip's last keyframe before the fade to the later
clip's first keyframe after it, blends the fade, and encodes just that stretch. The stretch
starts with a keyframe and ends right before one, so the packets copied on either side decode
as before. This works only when the new stretch's codec setup (SPS/PPS) is byte for byte the
clips' own, since an MP4 track has one; `splice` raises `Mismatch` otherwise, and the caller
re-encodes the whole video instead.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._stitch import Mismatch, _blend, _signature, _temporary


@dataclass
class _Clip:
    path: Path
    packets: list[Any] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=list)


def _read(path: Path, first: tuple[Any, ...] | None) -> tuple[_Clip, tuple[Any, ...], Any]:
    import av

    clip = _Clip(path)
    with av.open(str(path)) as src:
        stream = src.streams.video[0]
        signature = _signature(stream)
        if stream.codec_context.has_b_frames or (first is not None and signature != first):
            raise Mismatch(path)
        ctx = stream.codec_context
        colour = (ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc)
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            if packet.pts is not None and packet.pts != packet.dts:
                raise Mismatch(path)
            if packet.is_keyframe:
                clip.keyframes.append(len(clip.packets))
            clip.packets.append(packet)
    return clip, signature, colour


def _frames(path: Path, start: int, stop: int) -> list[Any]:
    """Frames `start`..`stop` (packet indices; `start` a keyframe) decoded afresh."""
    import av

    out: list[Any] = []
    with av.open(str(path)) as src:
        stream = src.streams.video[0]
        ctx = stream.codec_context
        index = 0
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            if start <= index < stop:
                out.extend(ctx.decode(packet))
            index += 1
            if index >= stop:
                break
        out.extend(ctx.decode(None))
    return out[: stop - start]


def _encode(frames: list[Any], signature: tuple[Any, ...], colour: tuple[int, ...]) -> list[Any]:
    """The frames encoded with the settings the simulator's encoder uses, as packets; raises
    Mismatch unless the codec setup comes out identical to the clips'."""
    import av

    from ..simulator._render import _ENCODERS, encoder

    name, width, height, _, _, rate, extradata = signature
    codec = encoder()
    if codec != "libx264" or name != "h264":
        raise Mismatch("only H.264 stretches from libx264 can be spliced")
    fd, tmp = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        with av.open(tmp, "w", format="mp4") as out:
            video = out.add_stream(codec, rate=rate)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.options = dict(_ENCODERS[codec])
            ctx = video.codec_context
            ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc = colour
            for n, frame in enumerate(frames):
                frame.pts, frame.time_base = n, 1 / rate
                frame.pict_type = av.video.frame.PictureType.NONE
                out.mux(video.encode(frame))
            out.mux(video.encode())
        with av.open(tmp) as src:
            stream = src.streams.video[0]
            if bytes(stream.codec_context.extradata or b"") != extradata:
                raise Mismatch("the re-encoded stretch's codec setup differs from the clips'")
            return [p for p in src.demux(stream) if p.dts is not None]
    finally:
        os.unlink(tmp)


def splice(paths: Sequence[Path], dest: Path, fade: int) -> Path:
    """Join the clips with a `fade`-frame crossfade at each join, re-encoding only around the
    joins (see the module's docstring). Raises Mismatch when that cannot be done."""
    import av

    clips, signature, colour = [], None, None
    for path in paths:
        clip, sig, col = _read(Path(path), signature)
        signature, colour = signature or sig, colour or col
        clips.append(clip)
    assert signature is not None and colour is not None
    last = len(clips) - 1
    heads, tails = [], []
    for i, clip in enumerate(clips):
        count = len(clip.packets)
        head = 0
        if i > 0:  # the first keyframe past the repeat and the fade, or the clip's end
            head = next((k for k in clip.keyframes if k > fade + 1), count)
        tail = count
        if i < last:  # the last keyframe before the fade
            tail = max((k for k in clip.keyframes if k <= count - fade), default=0)
        if tail < head or len(clip.packets) <= 2 * fade + 1:
            raise Mismatch(f"{clip.path.name}: its keyframes leave nothing to copy")
        heads.append(head)
        tails.append(tail)
    tmp = _temporary(Path(dest))
    tb = signature[4]
    step = round(1 / (signature[5] * tb))  # one frame in the stream's time base
    try:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = None
            with av.open(str(paths[0])) as template:
                stream = out.add_stream_from_template(template.streams.video[0])
            count = 0

            def put(packet: Any) -> None:
                nonlocal count
                packet.pts = packet.dts = count * step
                packet.time_base = tb
                packet.duration = step
                packet.stream = stream
                out.mux(packet)
                count += 1

            for i, clip in enumerate(clips):
                for packet in clip.packets[heads[i] : tails[i]]:
                    put(packet)
                if i == last:
                    break
                before = _frames(clip.path, tails[i], len(clip.packets))
                after = _frames(clips[i + 1].path, 0, heads[i + 1])[1:]  # the repeat dropped
                held, rest = before[len(before) - fade :], before[: len(before) - fade]
                k = min(len(held), len(after))
                mixed = [_blend(held[j], after[j], (j + 1) / (k + 1)) for j in range(k)]
                stretch = rest + mixed + held[k:] + after[k:]
                for packet in _encode(stretch, signature, colour):
                    put(packet)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)
    return Path(dest)
