"""Data-parallel training over several processes with torch's DistributedDataParallel.

Every rank draws the same global batch (same seeds), augments and runs only its own contiguous share of it,
and DDP averages the gradients. Two things keep N processes on a global batch taking the step one process
takes on it: batch normalisation normalises by the statistics of the whole global batch
(``GlobalBatchNorm``; torch's SyncBatchNorm runs on GPUs only) and dropout masks are cut from one mask for
the whole batch (``GlobalBatchDropout``), and losses whose normaliser depends on the
batch (a class-weighted mean) sum it over the ranks (``Ranks.sum``).

Processes are started by ``torchrun`` (which sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; any number
of machines) or by ``spawn`` (``kvision train ... --nproc N``: one machine, over loopback). Gloo on CPUs,
NCCL where CUDA is present.
"""

from __future__ import annotations

import os
import pickle
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

Config = TypeVar("Config")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes; ``Ranks()`` is one process alone."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """The rank that evaluates and writes checkpoints, weights and metrics."""
        return self.rank == 0

    def share(self, batch_size: int) -> slice:
        """This rank's contiguous part of a global batch (ranks in order make up the whole batch)."""
        if batch_size % self.world:
            raise ValueError(f"the batch size ({batch_size}) must be a multiple of the processes ({self.world})")
        part = batch_size // self.world
        return slice(self.rank * part, (self.rank + 1) * part)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the ranks (no gradient flows through it)."""
        if self.world == 1:
            return tensor
        total = tensor.detach().clone()
        dist.all_reduce(total)
        return total

    def wait_for_all(self) -> None:
        if self.world > 1:
            dist.barrier()


ALONE = Ranks()


def join() -> Ranks:
    """The ranks of this run: from torchrun's (or ``spawn``'s) environment, starting the process group;
    one process alone when the environment names none."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Ranks()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size())


def as_ranks(train: Callable[[Config, Ranks], Result], config: Config) -> Result:
    """``train(config, ranks)`` as this process's part of the run: the process group joined before, left after."""
    ranks = join()
    try:
        return train(config, ranks)
    finally:
        leave(ranks)


def training_steps(start: int, total: int, ranks: Ranks) -> tqdm:
    """Iterations ``start`` to ``total``, with a progress bar shown by the first process only."""
    return tqdm(range(start, total), desc="training", unit="it", initial=start, total=total, disable=not ranks.main)


def leave(ranks: Ranks) -> None:
    """Ends this process's part in the process group (after success or failure alike)."""
    if ranks.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


class SummedOverRanks(torch.autograd.Function):
    """A tensor summed over the ranks, with its gradient: each rank's input gets the sum of every rank's
    gradient of the result (the result feeds every rank's loss)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, gradient: torch.Tensor) -> torch.Tensor:
        total = gradient.clone()
        dist.all_reduce(total)
        return total


class GlobalBatchNorm(_BatchNorm):
    """Batch normalisation over the whole global batch, on CPUs as on GPUs.

    In training, each channel's mean and variance are summed over the ranks with differentiable
    all-reduces (two passes, as ``F.batch_norm`` computes them), so the output and its gradients are those
    of one process holding the whole batch. Parameters and buffers are a BatchNorm's, with the same names:
    weights trained with it load into the plain network. Outside training, or alone, it is a BatchNorm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        axes = [0, *range(2, input.dim())]
        shape = [1, -1] + [1] * (input.dim() - 2)
        ranks = Ranks(dist.get_rank(), dist.get_world_size())
        count = ranks.sum(input.new_tensor(float(input.numel() // input.shape[1])))
        mean = SummedOverRanks.apply(input.sum(axes)) / count
        centred = input - mean.view(shape)
        variance = SummedOverRanks.apply((centred * centred).sum(axes)) / count
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(variance.detach() * count / max(float(count) - 1.0, 1.0), momentum)
        output = centred * torch.rsqrt(variance + self.eps).view(shape)
        if self.affine:
            output = output * self.weight.view(shape) + self.bias.view(shape)
        return output


class GlobalBatchDropout(nn.Dropout):
    """Dropout whose mask is drawn for the whole global batch (every process holds the same random state)
    and cut to this process's share: the masks one process would draw for the same samples. Alone, or
    outside training, it is a Dropout."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.p > 0 and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        ranks = Ranks(dist.get_rank(), dist.get_world_size())
        batch = input.shape[0]
        keep = input.new_empty((batch * ranks.world, *input.shape[1:])).bernoulli_(1.0 - self.p)  # as F.dropout
        return input * keep[ranks.share(batch * ranks.world)].div_(1.0 - self.p)


def with_global_batch_layers(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm and Dropout replaced by their global-batch versions, holding the same
    parameter and buffer objects (an optimizer built before or after sees the same tensors)."""
    if isinstance(module, _BatchNorm) and not isinstance(module, GlobalBatchNorm):
        replaced = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                   module.track_running_stats)  # fmt: skip
        for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            setattr(replaced, name, tensor)
        replaced.train(module.training)
        return replaced
    if type(module) is nn.Dropout:
        dropout = GlobalBatchDropout(module.p)
        dropout.train(module.training)
        return dropout
    for name, child in module.named_children():
        module.add_module(name, with_global_batch_layers(child))
    return module


def data_parallel(model: nn.Module, ranks: Ranks) -> nn.Module:
    """The module the training loop runs: ``model`` itself alone, else wrapped by DDP."""
    if ranks.world == 1:
        return model
    return DistributedDataParallel(model)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spawn(function: Callable[[Config], Any], config: Config, processes: int) -> Any:
    """``function(config)`` in ``processes`` processes on this machine, talking over loopback only; returns
    what rank 0 returned (plain data: a tensor's shared memory goes with the process that made it). An
    exception in any rank is raised here as itself (the first one to arrive)."""
    if "WORLD_SIZE" in os.environ:
        raise RuntimeError("already one of several training processes (torchrun): do not also ask for --nproc")
    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    settings = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "WORLD_SIZE": str(processes),
        "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo"),
    }
    arrived: dict[str, Any] = {}  # "result" from rank 0, the first "error"
    processes_context = mp.start_processes(
        _rank_main, (function, config, settings, results), processes, join=False, start_method="spawn"
    )
    try:
        while not processes_context.join(timeout=0.2):
            _collect(results, arrived)  # as they come: a full pipe would block the sender
    except mp.ProcessRaisedException as failure:
        _collect(results, arrived)
        if "error" in arrived:
            raise arrived["error"] from failure
        raise
    _collect(results, arrived)
    return arrived.get("result")


def _collect(results: Any, arrived: dict[str, Any]) -> None:
    while not results.empty():
        kind, value = results.get()
        arrived.setdefault(kind, value)


def _rank_main(rank: int, function: Callable[[Any], Any], config: Any, settings: dict[str, str], results: Any) -> None:
    os.environ.update(settings, RANK=str(rank), LOCAL_RANK=str(rank))
    try:
        value = function(config)
    except Exception as error:
        try:
            results.put(("error", error))
        except (TypeError, AttributeError, pickle.PicklingError):  # one that does not pickle: its message
            results.put(("error", RuntimeError(f"{type(error).__name__}: {error}")))
        raise
    if rank == 0:
        results.put(("result", value))


def threads_per_rank(threads: int, ranks: Ranks) -> int:
    """CPU threads each rank uses: ``threads`` when given, else this machine's cores shared out."""
    if threads or ranks.world == 1:
        return threads
    return max(1, len(os.sched_getaffinity(0)) // ranks.world)
