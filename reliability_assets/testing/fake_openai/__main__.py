"""``python -m reliability_assets.testing.fake_openai --host 127.0.0.1 --port 8767``: serve stub
answers to any OpenAI chat completion until SIGTERM/SIGINT; ``offline_llm_env`` points the reference at it."""

from __future__ import annotations

import argparse
import importlib

from reliability_assets.testing.fake_openai.offline import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m reliability_assets.testing.fake_openai",
        description="A local OpenAI-compatible server that answers every chat completion with a minimal "
        "valid answer (schema-valid JSON for json_schema requests). For offline runs and tests only.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Interface to bind (default: 127.0.0.1).")
    parser.add_argument("--port", type=int, default=8767, help="Port (default: 8767; 0: a free one).")
    parser.add_argument(
        "--responder",
        metavar="MODULE:FUNCTION",
        help="answer with FUNCTION(request body) -> str, or the stub where it returns None",
    )
    args = parser.parse_args(argv)
    responder = None
    if args.responder:
        module, _, name = args.responder.partition(":")
        try:
            responder = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as error:
            parser.error(f"--responder {args.responder}: {error} (give an importable module:function)")
    serve(args.host, args.port, responder=responder)


if __name__ == "__main__":
    main()
