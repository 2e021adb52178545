"""Batched generation for the ``local`` target: several sequences in one llama.cpp context.

A :class:`BatchEngine` holds a llama.cpp context with ``parallel`` sequence slots, built on an
already loaded model, and one thread that drives it (llama.cpp contexts are not thread-safe).
Requests from the event loop wait in a queue; the thread admits them into free slots, and each
step is one ``llama_decode`` call: the next token of every generating sequence together, or the
prompt of a sequence just admitted, alone (continuous batching: see :meth:`BatchEngine._step`).
A finished, failed or abandoned sequence frees its slot for the next request at once. A slot's
memory keeps what its last request left there: the next request placed in it (the free slot
whose memory shares the longest prefix with its prompt: the chat template's system prompt, an
attack's template) decodes only the rest of its prompt, as llama-cpp-python does between calls.

Each request keeps its own sampler chain and stop rules, built as ``Llama.create_chat_completion``
builds them (chat template from the GGUF, the same params and defaults, the same end-of-text,
stop-string, multi-byte and ``max_tokens`` handling). A prompt is decoded alone, never mixed
with other sequences' tokens, and a reused prefix always leaves at least :data:`MIN_SUFFIX`
tokens to decode: llama.cpp's kernels sum in another order for those batch shapes, which changes
a few greedy replies. With that, at temperature 0 a reply is the one the one-at-a-time path
gives (tests/test_local_batch.py; on the quick scan, benchmarks/local_batch.py measures it).
A bad request (unknown param, prompt longer than a slot's context) fails alone with a
:class:`ValueError`; the other sequences go on.
"""

from __future__ import annotations

import asyncio
import ctypes
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from redline.targets.llama_params import GenerationParams, build_sampler, parse_params

MIN_SUFFIX = 2
"""Prompt tokens always decoded again when a slot's memory already holds the prompt."""

_MULTIBYTE_LEADS = ((2, 0xC0), (3, 0xE0), (4, 0xF0))


@dataclass(frozen=True, slots=True)
class Generation:
    """One finished request."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    generation_s: float
    """From the request's admission into a slot to its last token (queueing excluded)."""


@dataclass
class EngineStats:
    """What the engine's thread has done: how full its decode steps were, where time went."""

    decode_steps: int = 0
    decoded_tokens: int = 0
    """One per generating sequence per decode step: ``decoded_tokens / decode_steps`` is the
    mean number of slots in use."""
    prefill_steps: int = 0
    prefill_tokens: int = 0
    reused_tokens: int = 0
    """Prompt tokens not decoded again: already in the slot's memory from its last request."""
    decode_s: float = 0.0
    prefill_s: float = 0.0


@dataclass(eq=False)
class _Request:
    messages: list[dict[str, str]]
    params: dict[str, Any]
    future: Future[Generation] = field(default_factory=Future)
    abandoned: bool = False
    """Set from the event loop when the caller stopped waiting (timeout, cancellation)."""


@dataclass(eq=False)
class _Sequence:
    """A request admitted into a slot."""

    request: _Request
    prompt: list[int]
    max_tokens: int
    stops: list[bytes]
    sampler: Any
    started: float
    slot: int = -1
    n_past: int = 0
    """Tokens of this sequence already in the context's memory."""
    completion: list[int] = field(default_factory=list)
    text: bytes = b""
    """The completion's bytes so far (each token's piece appended as it comes)."""
    next_token: int | None = None
    """The last sampled token, to decode in the next step."""
    multibyte_fix: int = 0


class BatchEngine:
    """Generates for many concurrent requests with one llama.cpp context of ``parallel`` slots.

    ``llama`` is a loaded ``llama_cpp.Llama``: its model weights, tokenizer and chat template
    are shared, its own context is left alone. Each slot has a context of ``n_ctx`` tokens.
    """

    def __init__(
        self, llama: Any, *, parallel: int, n_ctx: int, n_threads: int, n_batch: int = 512
    ) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError(
                "this GGUF has no chat template, which parallel decoding needs: set `parallel: 1`"
            )
        self._llama = llama
        self._lib = llama_cpp
        self.parallel = parallel
        self.n_batch = n_batch
        eos, bos = llama.token_eos(), llama.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        params = llama_cpp.llama_context_params.from_buffer_copy(llama.context_params)
        params.n_ctx = n_ctx * parallel
        params.n_seq_max = parallel
        params.n_batch = params.n_ubatch = n_batch
        params.n_threads = params.n_threads_batch = n_threads
        params.kv_unified = False  # one memory stream per slot: a slot never crowds another
        self._ctx = llama_cpp.llama_init_from_model(llama.model, params)
        if not self._ctx:
            raise RuntimeError(f"llama.cpp could not create a context of {parallel} sequences")
        self.n_ctx_seq = llama_cpp.llama_n_ctx_seq(self._ctx)
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._bos = bos
        self._cached: list[list[int]] = [[] for _ in range(parallel)]
        """The tokens each slot's memory holds, in order from position 0."""
        self._pieces: dict[int, bytes] = {}
        self._closed = False
        self.stats = EngineStats()
        self._thread = threading.Thread(target=self._run, name="redline-llama-batch", daemon=True)
        self._thread.start()

    # -- the caller's side -------------------------------------------------------------------

    def submit(self, messages: list[dict[str, str]], params: dict[str, Any]) -> _Request:
        """Queue one chat request; its ``future`` resolves to a :class:`Generation`."""
        if self._closed:
            raise RuntimeError("the local model's batch engine is closed")
        request = _Request(messages, params)
        self._queue.put(request)
        return request

    async def generate(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Generation:
        """Generate a reply; the event loop waits without blocking.

        Cancelling the caller frees the request's slot at the next step.
        """
        request = self.submit(messages, params)
        try:
            return await asyncio.wrap_future(request.future)
        except asyncio.CancelledError:
            request.abandoned = True
            raise

    def close(self) -> None:
        """Stop the thread (requests still queued fail) and free the context."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        self._lib.llama_batch_free(self._batch)
        self._lib.llama_free(self._ctx)

    # -- the engine thread -------------------------------------------------------------------

    def _run(self) -> None:
        waiting: deque[_Request] = deque()
        active: dict[int, _Sequence] = {}
        while not self._collect(waiting, block=not active and not waiting):
            self._admit(waiting, active)
            for seq in [s for s in active.values() if s.request.abandoned]:
                self._finish(active, seq, error=RuntimeError("abandoned by the caller"))
            if not active:
                continue
            try:
                self._step(active)
            except Exception as exc:  # a llama.cpp failure: these sequences fail, not the thread
                for seq in list(active.values()):
                    self._finish(active, seq, error=RuntimeError(f"local generation failed: {exc}"))
        closed = RuntimeError("the local model was closed")
        for seq in list(active.values()):
            self._finish(active, seq, error=closed)
        self._collect(waiting, block=False)
        for request in waiting:
            if not request.future.done():
                request.future.set_exception(closed)

    def _collect(self, waiting: deque[_Request], *, block: bool) -> bool:
        """Move queued requests to ``waiting``; True once ``close()`` asked to stop."""
        try:
            item = self._queue.get(block=block)
            while True:
                if item is None:
                    return True
                waiting.append(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            return False

    def _admit(self, waiting: deque[_Request], active: dict[int, _Sequence]) -> None:
        free = [slot for slot in range(self.parallel) if slot not in active]
        while free and waiting:
            request = waiting.popleft()
            if request.abandoned or not request.future.set_running_or_notify_cancel():
                continue
            try:
                seq = self._start(request)
            except Exception as exc:  # a bad param, a prompt longer than a slot's context
                request.future.set_exception(
                    exc
                    if isinstance(exc, ValueError)
                    else ValueError(f"{type(exc).__name__}: {exc}")
                )
                continue
            slot = max(free, key=lambda s: _common_prefix(self._cached[s], seq.prompt))
            free.remove(slot)
            self._place(seq, slot)
            active[slot] = seq

    def _place(self, seq: _Sequence, slot: int) -> None:
        """Put ``seq`` in ``slot``, keeping the longest prefix of its prompt already there.

        At least the prompt's last :data:`MIN_SUFFIX` tokens are decoded again: the logits of a
        one-token batch come from other kernels than those of a longer one, and would change a
        few greedy replies against a prompt decoded whole.
        """
        keep = max(
            0, min(_common_prefix(self._cached[slot], seq.prompt), len(seq.prompt) - MIN_SUFFIX)
        )
        if not self._lib.llama_memory_seq_rm(self._memory, slot, keep, -1):
            self._lib.llama_memory_seq_rm(self._memory, slot, -1, -1)
            keep = 0
        seq.slot, seq.n_past = slot, keep
        self._cached[slot] = seq.prompt[:keep]
        self.stats.reused_tokens += keep

    def _start(self, request: _Request) -> _Sequence:
        """Format, tokenize and check one request, as create_chat_completion does."""
        params: GenerationParams = parse_params(request.params)
        formatted = self._formatter(messages=request.messages)  # type: ignore[arg-type]
        prompt = self._llama.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        n_ctx = self.n_ctx_seq
        if len(prompt) >= n_ctx:
            raise ValueError(f"Requested tokens ({len(prompt)}) exceed context window of {n_ctx}")
        max_tokens = params.max_tokens
        if max_tokens is None or max_tokens <= 0 or max_tokens + len(prompt) >= n_ctx:
            max_tokens = n_ctx - len(prompt)
        stops = [s.encode("utf-8") for s in [*params.stop, *(formatted.stop or [])]]
        seed = params.seed if params.seed is not None else self._llama._seed
        sampler = build_sampler(params, seed, self._llama.n_vocab(), self._llama.last_n_tokens_size)
        return _Sequence(request, prompt, max_tokens, stops, sampler, time.perf_counter())

    def _step(self, active: dict[int, _Sequence]) -> None:
        """One ``llama_decode``: a new sequence's prompt, or the next token of every other.

        A prompt is decoded alone (in chunks of ``n_batch``), never mixed with other
        sequences' tokens: llama.cpp's kernels sum in a different order for a mixed batch, and
        that changes a few greedy tokens against the one-at-a-time path.
        """
        prefilling = next((s for s in active.values() if s.n_past < len(s.prompt)), None)
        if prefilling is not None:
            chunk = prefilling.prompt[prefilling.n_past : prefilling.n_past + self.n_batch]
            last = prefilling.n_past + len(chunk) == len(prefilling.prompt)
            feed = [
                (token, prefilling.n_past + i, prefilling, last and i == len(chunk) - 1)
                for i, token in enumerate(chunk)
            ]
        else:
            feed = [
                (s.next_token, s.n_past, s, True)
                for s in active.values()
                if s.next_token is not None
            ]
        batch = self._batch
        outputs: list[tuple[_Sequence, int]] = []
        for n, (token, pos, seq, logits) in enumerate(feed):
            batch.token[n] = token
            batch.pos[n] = pos
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = seq.slot
            batch.logits[n] = logits
            if logits:
                outputs.append((seq, n))
        batch.n_tokens = len(feed)
        started = time.perf_counter()
        code = self._lib.llama_decode(self._ctx, batch)
        self._count(prefilling is not None, len(feed), time.perf_counter() - started)
        if code != 0:
            for seq in {seq.slot: seq for _, _, seq, _ in feed}.values():
                self._finish(active, seq, error=RuntimeError(f"llama_decode returned {code}"))
            return
        for _, _, seq, _ in feed:
            seq.n_past += 1
        for seq, index in outputs:
            token = self._lib.llama_sampler_sample(seq.sampler, self._ctx, index)
            self._advance(active, seq, token)

    def _count(self, prefill: bool, tokens: int, seconds: float) -> None:
        stats = self.stats
        if prefill:
            stats.prefill_steps += 1
            stats.prefill_tokens += tokens
            stats.prefill_s += seconds
        else:
            stats.decode_steps += 1
            stats.decoded_tokens += tokens
            stats.decode_s += seconds

    def _advance(self, active: dict[int, _Sequence], seq: _Sequence, token: int) -> None:
        """Take a sampled token: finish the sequence or keep ``token`` for the next step.

        Mirrors the loop of ``Llama._create_completion``.
        """
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            self._finish(active, seq, text=self._text(seq), reason="stop")
            return
        seq.completion.append(token)
        seq.text += self._piece(token)
        text = self._text(seq)
        for k, char in enumerate(text[-3:]):
            k = 3 - k
            for size, lead in _MULTIBYTE_LEADS:
                if size > k and lead & char == lead:
                    seq.multibyte_fix = size - k
        if seq.multibyte_fix > 0 and seq.n_past + 1 < self.n_ctx_seq:
            seq.multibyte_fix -= 1  # an incomplete character: one more token before any check
            seq.next_token = token
            return
        hits = [stop for stop in seq.stops if stop in text]
        if hits:
            self._finish(active, seq, text=text[: text.index(hits[0])], reason="stop")
        elif len(seq.completion) >= seq.max_tokens or seq.n_past + 1 >= self.n_ctx_seq:
            self._finish(active, seq, text=text, reason="length")
        else:
            seq.next_token = token

    def _piece(self, token: int) -> bytes:
        """A token's text (cached: the vocabulary is fixed)."""
        piece = self._pieces.get(token)
        if piece is None:
            size = 64
            while True:
                buffer = (ctypes.c_char * size)()
                n = self._lib.llama_token_to_piece(self._vocab, token, buffer, size, 0, False)
                if n >= 0:
                    break
                size = -n  # too small: llama.cpp says how many bytes it needs
            piece = self._pieces[token] = buffer.raw[:n]
        return piece

    def _text(self, seq: _Sequence) -> bytes:
        """The completion as ``Llama.detokenize`` gives it: no space after a leading BOS."""
        text = seq.text
        if seq.completion and seq.completion[0] == self._bos and text[:1] == b" ":
            return text[1:]
        return text

    def _finish(
        self,
        active: dict[int, _Sequence],
        seq: _Sequence,
        *,
        text: bytes = b"",
        reason: str = "stop",
        error: Exception | None = None,
    ) -> None:
        """Resolve ``seq``'s request and free its slot and sampler.

        The slot's memory is kept for the next request with the same prompt prefix (the
        template, a system prompt), unless the sequence failed.
        """
        del active[seq.slot]
        if error is None or seq.request.abandoned:
            self._cached[seq.slot] = [*seq.prompt, *seq.completion][: seq.n_past]
        else:
            self._lib.llama_memory_seq_rm(self._memory, seq.slot, -1, -1)
            self._cached[seq.slot] = []
        self._lib.llama_sampler_free(seq.sampler)
        future = seq.request.future
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(
                Generation(
                    text=text.decode("utf-8", errors="ignore"),
                    prompt_tokens=len(seq.prompt),
                    completion_tokens=len(seq.completion),
                    finish_reason=reason,
                    generation_s=time.perf_counter() - seq.started,
                )
            )


def _common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
