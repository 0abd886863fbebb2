"""Training jobs: the loop (:mod:`.trainer`), default recipes, the job behind ``chainrule train`` and its outputs."""
from .book_trainer import BookTrainer
from .job import TrainResult, run
from .recipes import DEFAULTS, recipe
from .trainer import StopTraining, Trainer, TrainingDiverged

__all__ = ["Trainer", "BookTrainer", "TrainingDiverged", "StopTraining", "recipe", "DEFAULTS", "run", "TrainResult"]
