"""Streaming feature extraction: a file of any length read in blocks, in bounded memory.

``stream_log_mel(path, fc)`` reads a file block by block with soundfile, mixes each block to
mono, resamples it and turns it into raw log-mel frames, carrying state across block edges so
the frames equal those of the whole-file path (:func:`audiogan.data.extract.extract_many`) to
float tolerance:

* resampling: torchaudio's windowed-sinc resampler is run on segments that start on a multiple
  of its input stride, with enough real input on each side (the filter's reach) that the kept
  outputs see exactly what the whole-file filter sees; past the file's ends, zeros, as torchaudio
  pads;
* log-mel: frames are cut from the resampled stream with the front end's own window and mel
  filterbank, ``center=True`` emulated by zeros before the first sample and after the last.

Reading, mixing and resampling run in a worker thread two blocks ahead of the frames.

Memory is a few blocks of audio plus the frames of one block, whatever the file's length. A file
that fails part-way (truncated, corrupt, non-finite samples) yields the frames read before the
damage; :attr:`StreamResult.problem` then says what stopped it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from audiogan.config import FeatureConfig
from audiogan.data import audio
from audiogan.features import MelFrontEnd

__all__ = ["BLOCK_SECONDS", "StreamResult", "StreamingResampler", "stream_log_mel"]

#: Seconds of source audio read per block: big enough that per-call overhead vanishes, small
#: enough that a block of 192 kHz 8-channel float32 stays ~50 MB.
BLOCK_SECONDS = 8.0
#: After a read error, the stream goes back and reads on in blocks this long, to keep as much of a
#: damaged file as the decoder still gives.
FINE_SECONDS = 0.1


class StreamingResampler:
    """Resample a stream block by block exactly as ``audio.resampler(orig, new)`` does the whole."""

    def __init__(self, orig_rate: int, new_rate: int) -> None:
        self.source_rate = int(orig_rate)  # the file's own rate: the output length follows it
        self.orig_rate = audio.resample_source_rate(orig_rate, new_rate)
        self.new_rate = int(new_rate)
        self.identity = self.orig_rate == self.new_rate
        if self.identity:
            return
        self.module = audio.resampler(orig_rate, new_rate)
        g = math.gcd(self.orig_rate, self.new_rate)
        self.stride, self.outputs = self.orig_rate // g, self.new_rate // g  # per polyphase step
        # The filter reaches `width` input samples either side (torchaudio's formula, defaults).
        base = min(self.stride, self.outputs) * 0.99
        width = int(getattr(self.module, "width", math.ceil(6 * self.stride / base)))
        self.context = (math.ceil((width + self.stride) / self.stride) + 1) * self.stride
        self.history = np.zeros(self.context, dtype=np.float32)  # input just before `pending`
        self.pending = np.zeros(0, dtype=np.float32)
        self.seen = 0  # input samples received
        self.emitted = 0  # output samples returned

    def _run(self, segment: np.ndarray, steps: int) -> np.ndarray:
        with torch.inference_mode():
            out = self.module(torch.from_numpy(segment)).numpy()
        first = self.context // self.stride * self.outputs
        return out[first : first + steps * self.outputs]

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Feed source samples; returns the output samples that are now final."""
        if self.identity:
            return samples
        self.seen += samples.shape[0]
        self.pending = np.concatenate([self.pending, samples])
        # Whole strides with `context` real samples after them are final.
        steps = max(0, (self.pending.shape[0] - self.context) // self.stride)
        if steps == 0:
            return np.zeros(0, dtype=np.float32)
        used = steps * self.stride
        buffer = np.concatenate([self.history, self.pending[: used + self.context]])
        out = self._run(buffer, steps)
        self.history = buffer[used : used + self.context]  # the input just before the new pending
        self.pending = self.pending[used:]
        self.emitted += out.shape[0]
        return out

    def finish(self) -> np.ndarray:
        """The remaining output after the last sample (zeros beyond the end, as torchaudio pads)."""
        if self.identity:
            return np.zeros(0, dtype=np.float32)
        total = -(-self.seen * self.new_rate // self.source_rate)  # ceil, as the whole-file path
        steps = -(-self.pending.shape[0] // self.stride)
        if steps == 0:
            return np.zeros(0, dtype=np.float32)
        tail = np.zeros(steps * self.stride + self.context - self.pending.shape[0], dtype=np.float32)
        out = self._run(np.concatenate([self.history, self.pending, tail]), steps)
        out = out[: max(0, total - self.emitted)]
        self.emitted += out.shape[0]
        return out


class _StreamingFrames:
    """Log-mel frames of a sample stream, ``center=True`` with zero padding, as ``MelFrontEnd.log_mel``."""

    def __init__(self, fc: FeatureConfig) -> None:
        self.fc, self.front = fc, MelFrontEnd(fc)
        self.half = fc.n_fft // 2
        # Samples from (file position) `start` on; the first frame's window starts `half` before 0.
        self.buffer = np.zeros(self.half, dtype=np.float32)
        self.start = -self.half
        self.next_frame = 0
        self.received = 0

    def _frames(self, count: int) -> np.ndarray:
        fc = self.fc
        first = self.next_frame * fc.hop_length - self.half - self.start  # buffer index of frame 0
        need = (count - 1) * fc.hop_length + fc.n_fft
        wave = torch.from_numpy(np.ascontiguousarray(self.buffer[first : first + need]))
        with torch.inference_mode():
            magnitude = self.front.magnitude(wave[None], center=False)
            mel = self.front.mel.mel_scale(magnitude).clamp_min(self.front.log_floor).log()
        self.next_frame += count
        drop = self.next_frame * fc.hop_length - self.half - self.start  # what no later frame needs
        self.buffer, self.start = self.buffer[drop:], self.start + drop
        return mel[0].T.numpy()  # (count, M)

    def push(self, samples: np.ndarray) -> np.ndarray:
        self.received += samples.shape[0]
        self.buffer = np.concatenate([self.buffer, samples])
        end = self.start + self.buffer.shape[0]  # file position after the last sample held
        # Frame t's window is [t * hop - half, t * hop - half + n_fft).
        ready = (end - self.fc.n_fft + self.half) // self.fc.hop_length + 1 - self.next_frame
        if ready <= 0:
            return np.zeros((0, self.fc.n_mels), dtype=np.float32)
        return self._frames(ready)

    def finish(self) -> np.ndarray:
        fc = self.fc
        total = 1 + (self.received + 2 * self.half - fc.n_fft) // fc.hop_length
        count = total - self.next_frame
        if count <= 0:
            return np.zeros((0, fc.n_mels), dtype=np.float32)
        self.buffer = np.concatenate([self.buffer, np.zeros(fc.n_fft, dtype=np.float32)])
        return self._frames(count)


@dataclasses.dataclass
class StreamResult:
    """What a streamed file gave: its length and, when it stopped early, why."""

    seconds: float = 0.0  # source seconds whose frames were yielded
    total_seconds: float = 0.0  # what the header announced
    problem: str | None = None  # e.g. "unreadable or corrupt after 61.2 s of 3600 s (...)"


def stream_log_mel(
    path: str | os.PathLike,
    fc: FeatureConfig,
    result: StreamResult | None = None,
    block_seconds: float = BLOCK_SECONDS,
) -> Iterator[np.ndarray]:
    """Raw log-mel frames ``(t, M)`` float32 of ``path``, block by block.

    Reading, mixing and resampling run in a worker thread a block or two ahead of the frames
    (both release the GIL in numpy, libsndfile and torch), so on two cores the stream takes about
    as long as the slower half instead of the sum.

    :param result: filled in as the stream goes (seconds read, and the problem that stopped it).
    :raises audio.AudioFileError: when not even the header or the first block can be used.
    """
    result = result if result is not None else StreamResult()
    frames = _StreamingFrames(fc)
    for samples, seconds in _in_background(_resampled_blocks(Path(path), fc, result, block_seconds)):
        out = frames.push(samples)
        result.seconds = seconds
        if out.shape[0]:
            yield out
    last = frames.finish()
    if last.shape[0]:
        yield last


def _resampled_blocks(
    path: Path, fc: FeatureConfig, result: StreamResult, block_seconds: float
) -> Iterator[tuple[np.ndarray, float]]:
    """The file's samples, mono and resampled, block by block, each with the source seconds read
    so far; sets ``result.total_seconds`` and ``result.problem``."""
    handle = audio.open_audio(path)
    with handle:
        rate = handle.samplerate
        result.total_seconds = handle.frames / rate if handle.frames > 0 else 0.0
        resampler = StreamingResampler(rate, fc.sample_rate)
        block = max(1, int(block_seconds * rate))
        read = 0
        while True:
            try:
                mono, checked = audio.read_mono(handle, block)
            except Exception as exc:  # damage mid-stream: keep what came before
                small = max(1, int(FINE_SECONDS * rate))
                if block > small:  # a whole block is lost with the error: go back, creep up to the damage
                    try:
                        handle.seek(read)
                        block = small
                        continue
                    except Exception:
                        pass
                result.problem = _problem(audio.REASON_UNREADABLE, read / rate, result.total_seconds, exc)
                break
            if mono.shape[0] == 0:
                break
            bad = None if checked else audio.check_samples(mono)
            if bad is not None:
                result.problem = _problem(bad, read / rate, result.total_seconds)
                break
            read += mono.shape[0]
            yield resampler.push(mono), read / rate
        if result.problem is None and handle.frames > 0 and read < handle.frames:
            # A file cut short (a copy that stopped, a full disk): libsndfile just returns less.
            result.problem = _problem("file ends early", read / rate, result.total_seconds)
        if read == 0:
            reason = result.problem.split(" after ")[0] if result.problem else audio.REASON_NO_FRAMES
            raise audio.AudioFileError(path, reason)
        yield resampler.finish(), read / rate


_T = TypeVar("_T")


def _in_background(items: Iterator[_T], depth: int = 2) -> Iterator[_T]:
    """Yield what ``items`` yields, running it in a worker thread at most ``depth`` items ahead.

    An exception in the worker is raised here; when the caller stops early (or fails), the worker
    is told to stop, ``items`` is closed in the worker's own thread, and the thread is joined
    before this generator returns, so no file stays open behind the caller's back.
    """
    channel: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def send(message: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                channel.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        outcome: BaseException | None = None
        try:
            for item in items:
                if not send((True, item)):
                    return
        except BaseException as exc:  # forwarded to the caller, whatever it is
            outcome = exc
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        send((False, outcome))

    worker = threading.Thread(target=work, name="audiogan-read", daemon=True)
    worker.start()
    try:
        while True:
            is_item, value = channel.get()
            if not is_item:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        worker.join()


def _problem(reason: str, at: float, total: float, exc: BaseException | None = None) -> str:
    detail = f" ({str(exc).splitlines()[0]})" if exc is not None and str(exc) else ""
    return f"{reason} after {at:.1f} s of {total:.1f} s{detail}: the rest is left out"
