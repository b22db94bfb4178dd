"""Loss predictions without a trajectory: closed forms and mode sums."""

from .chain import chain_loss_closed_form

__all__ = ["chain_loss_closed_form"]
