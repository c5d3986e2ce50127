"""One rank's share of a data-parallel step: its slice of each global batch, over ``DistributedDataParallel``.

For ``--backend torch`` the wrapped module's backward is the generated, derived one: ``GeneratedStep``
is an ``autograd.Function`` whose backward hands autograd the gradients the generated step computed, so
DDP's hooks average them; for ``--backend autograd`` the module is the reference model.
"""
from __future__ import annotations

import torch
from torch.nn.parallel import DistributedDataParallel

from .distributed import World


def data_parallel(world: World, state: dict, loss_and_grads=None, loss=None):
    """``(objective, evaluate)`` on this rank's slice of each global batch, over a DDP-wrapped module.

    ``loss_and_grads(state, idx) -> (loss, grads)`` is a generated step (its gradients enter autograd through
    ``GeneratedStep``); ``loss(state, idx) -> loss`` is a reference model autograd differentiates.  The
    objective returns the global batch's mean loss and the gradients DDP averaged over the ranks.
    """
    model = StepModule(state, loss_and_grads, loss)
    ddp = DistributedDataParallel(model, device_ids=[world.local_rank] if world.device.startswith("cuda") else None)

    def own_slice(idx):
        share = idx.shape[0] // world.size
        return idx[world.rank * share:(world.rank + 1) * share]

    def objective(_, idx):
        for p in model.parameters():
            p.grad = None
        value = ddp(own_slice(idx))
        value.backward()
        return world.mean(value.detach()), {k: p.grad for k, p in zip(model.names, model.parameters())}

    def evaluate(_, idx):
        with torch.no_grad():
            return world.mean(model.loss_of(own_slice(idx)).detach())

    return objective, evaluate


class GeneratedStep(torch.autograd.Function):
    """``apply(idx, step, names, *tensors)``: the loss of a generated step as an autograd node whose backward
    returns the step's derived gradients, scaled by the upstream gradient."""

    @staticmethod
    def forward(ctx, idx, step, names, *tensors):
        value, grads = step(dict(zip(names, tensors)), idx)
        ctx.grads = [grads[n] for n in names]
        return value.detach().clone()

    @staticmethod
    def backward(ctx, upstream):
        grads, ctx.grads = ctx.grads, None
        return (None, None, None, *[upstream * g for g in grads])


class StepModule(torch.nn.Module):
    """The trained tensors as parameters (sharing their storage, so the optimiser's in-place updates are the
    module's) and the step's loss as its forward."""

    def __init__(self, state, loss_and_grads, loss):
        super().__init__()
        self.names = list(state)
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(state[k]) for k in self.names])
        self.loss_and_grads, self.loss = loss_and_grads, loss

    def forward(self, idx):
        if self.loss_and_grads is not None:
            return GeneratedStep.apply(idx, self.loss_and_grads, self.names, *self.weights)
        return self.loss(dict(zip(self.names, self.weights)), idx)

    def loss_of(self, idx):
        tensors = {k: w.detach() for k, w in zip(self.names, self.weights)}
        if self.loss_and_grads is not None:
            return self.loss_and_grads(tensors, idx)[0]
        return self.loss(tensors, idx)
