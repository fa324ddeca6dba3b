"""Parameters of a plain ``nn.Module`` and of each module inside it: counted from the tensors, a tensor
held by two modules (tied embeddings) counted once, and the other holders named."""
from __future__ import annotations

from torch import nn

__all__ = ["owners", "module_params", "model_params", "row_depth"]


def owners(root: nn.Module) -> dict[int, set[str]]:
    """{id(parameter): the paths of every module that holds it directly}."""
    out: dict[int, set[str]] = {}
    for path, m in root.named_modules(remove_duplicate=False):
        for _, p in m.named_parameters(recurse=False):
            out.setdefault(id(p), set()).add(path)
    return out


def _inside(owner: str, path: str) -> bool:
    return path == "" or owner == path or owner.startswith(path + ".")


def module_params(module: nn.Module, path: str, holders: dict) -> tuple[int, str, str | None]:
    """(count, formula, shared with) for ``module`` and everything below it: the formula writes the
    module's own tensors by shape (``768·2304 + 2304``) and what its submodules hold as one number."""
    tensors = {id(p): p for p in module.parameters()}
    count = sum(p.numel() for p in tensors.values())
    own = [p for _, p in module.named_parameters(recurse=False)]
    below = count - sum(p.numel() for p in own)
    parts = ["·".join(str(s) for s in p.shape) or "1" for p in own] if len(own) <= 4 else [f"{count - below:,}"]
    if own and below:
        parts.append(f"{below:,} below")
    text = " + ".join(parts) if own else f"{count:,}"
    if text.replace(",", "") == str(count):
        text = f"{count:,}"
    shared = ", ".join(sorted({o for t in tensors for o in holders.get(t, ()) if not _inside(o, path)})) or None
    return count, text if shared is None else f"{text} (shared with {shared})", shared


def model_params(module: nn.Module) -> dict:
    """Totals: parameters (unique tensors), trainable and not, their bytes, and buffer elements apart."""
    params = {id(p): p for p in module.parameters()}
    trainable = [p for p in params.values() if p.requires_grad]
    return {"params": sum(p.numel() for p in params.values()),
            "trainable_params": sum(p.numel() for p in trainable),
            "non_trainable_params": sum(p.numel() for p in params.values() if not p.requires_grad),
            "buffers": sum(b.numel() for b in {id(b): b for b in module.buffers()}.values()),
            "weights_bytes": sum(p.numel() * p.element_size() for p in params.values()),
            "trainable_bytes": sum(p.numel() * p.element_size() for p in trainable)}


def row_depth(path: str, shown) -> int:
    """How many rows above a module's row hold it (a ModuleList that never runs forward has no row)."""
    if not path:
        return 0
    parts = path.split(".")
    return 1 + sum(".".join(parts[:i]) in shown for i in range(1, len(parts)))
