"""Any OpenAI-compatible chat-completions endpoint (OpenAI, DashScope/Qwen, vLLM, Ollama, llama.cpp).

Bounded concurrency (a fixed pool of workers), a wall-clock deadline per attempt, retries with
exponential backoff and jitter (honouring ``Retry-After``) for timeouts, connection errors, 408,
429, 5xx and unusable replies. 401/403/404 stop the whole run at once: every further request
would fail the same way. Other 4xx fail that one text.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from typing import Any

import httpx

from ur4rec.config import TextsConfig
from ur4rec.errors import ConfigError, UR4RecError
from ur4rec.text.llm import EndpointError, OnFailure, OnText, clean_reply
from ur4rec.text.prompting import TextRequest

# httpx logs every request at INFO; one line per text would bury the progress bar
logging.getLogger("httpx").setLevel(logging.WARNING)

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
_RETRYABLE_STATUS = {408, 409, 425, 429}
_FATAL_STATUS = {401: "the API key was refused", 403: "the API key may not use this model",
                 404: "the URL or the model name is wrong"}


class RequestFailed(Exception):
    """One request failed for good; the message says why."""


class OpenAIBackend:
    """``generate`` sends each request to ``{base_url}/chat/completions``."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str, concurrency: int = 8,
                 timeout_s: float = 60.0, max_retries: int = 4, max_tokens: int = 120,
                 temperature: float = 0.0, backoff_s: float = 1.0, max_backoff_s: float = 30.0
                 ) -> None:
        self.url = chat_url(base_url)
        self.model = model
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.settings: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}

    def generate(self, requests: list[TextRequest], on_text: OnText, on_failure: OnFailure
                 ) -> None:
        asyncio.run(self._generate(requests, on_text, on_failure))

    async def _generate(self, requests: list[TextRequest], on_text: OnText,
                        on_failure: OnFailure) -> None:
        queue: asyncio.Queue[TextRequest] = asyncio.Queue()
        for request in requests:
            queue.put_nowait(request)
        limits = httpx.Limits(max_connections=self.concurrency,
                              max_keepalive_connections=self.concurrency)
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits,
                                     headers=headers) as client:
            workers = [asyncio.create_task(self._worker(client, queue, on_text, on_failure))
                       for _ in range(min(self.concurrency, len(requests)))]
            try:
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, client: httpx.AsyncClient, queue: asyncio.Queue[TextRequest],
                      on_text: OnText, on_failure: OnFailure) -> None:
        while not queue.empty():
            request = queue.get_nowait()
            try:
                text = await self._one(client, request)
            except RequestFailed as error:
                on_failure(request, str(error))
            else:
                on_text(request, text)

    async def _one(self, client: httpx.AsyncClient, request: TextRequest) -> str:
        body = {"model": self.model, "messages": [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.prompt}], **self.settings}
        problem, wait_hint = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self._delay(attempt, wait_hint))
            try:
                response = await asyncio.wait_for(client.post(self.url, json=body),
                                                  self.timeout_s)
            except (asyncio.TimeoutError, httpx.TimeoutException):
                problem, wait_hint = f"no answer within {self.timeout_s:g} s", None
                continue
            except httpx.TransportError as error:
                problem, wait_hint = f"connection failed ({type(error).__name__}: {error})", None
                continue
            status = response.status_code
            if status in _FATAL_STATUS:
                raise EndpointError(f"{self.url} answered HTTP {status} for model "
                                    f"{self.model!r}: {_FATAL_STATUS[status]} "
                                    f"({_snippet(response.text)})")
            if status in _RETRYABLE_STATUS or status >= 500:
                problem, wait_hint = f"HTTP {status} ({_snippet(response.text)})", \
                    _retry_after(response)
                continue
            if status >= 400:
                raise RequestFailed(f"HTTP {status} ({_snippet(response.text)})")
            text = _reply_text(response)
            if text is None:
                problem, wait_hint = f"unusable reply ({_snippet(response.text)})", None
                continue
            return text
        raise RequestFailed(f"{problem} — gave up after {self.max_retries + 1} attempts")

    def _delay(self, attempt: int, hint: float | None) -> float:
        if hint is not None:
            return min(hint, self.max_backoff_s)
        base = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
        return base * (0.5 + random.random() / 2)


def chat_url(base_url: str) -> str:
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"texts.openai_base_url {base_url!r} must start with http:// or "
                          "https:// (e.g. https://api.openai.com/v1)")
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


def _reply_text(response: httpx.Response) -> str | None:
    try:
        payload = response.json()
        return clean_reply(payload["choices"][0]["message"]["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _snippet(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return (flat[:limit] + "…") if len(flat) > limit else flat or "empty body"


def backend_from_config(config: TextsConfig, key_env: str = DEFAULT_KEY_ENV,
                        **overrides: Any) -> OpenAIBackend:
    """Settings from ``config`` (``OPENAI_BASE_URL``/``OPENAI_MODEL`` fill gaps), key from env."""
    base_url = config.openai_base_url or os.environ.get("OPENAI_BASE_URL")
    model = config.openai_model or os.environ.get("OPENAI_MODEL")
    if not base_url:
        raise ConfigError("the openai backend needs an endpoint: set texts.openai_base_url "
                          "(or --base-url, or OPENAI_BASE_URL), e.g. https://api.openai.com/v1")
    if not model:
        raise ConfigError("the openai backend needs a model: set texts.openai_model (or "
                          "--model, or OPENAI_MODEL)")
    api_key = os.environ.get(key_env, "").strip()
    if not api_key:
        raise UR4RecError(f"the openai backend needs an API key in the environment variable "
                          f"{key_env} (any non-empty value for servers that need none)")
    settings = dict(concurrency=config.openai_concurrency, timeout_s=config.openai_timeout_s,
                    max_retries=config.openai_max_retries, max_tokens=config.max_new_tokens)
    settings.update(overrides)
    return OpenAIBackend(base_url, model, api_key, **settings)
