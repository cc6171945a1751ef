"""End-to-end training of cnn-small, scikit-learn style.

Trains on random crops (fingerprints are local, and crops make an epoch cheap on a
CPU), with crop offsets on the 8-pixel grid so that periodic traces keep the phase
they have in whole images, and keeps the epoch with the best validation AUC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from synthtrace.backbones.cnn import CNNSmall, CNNSmallConfig
from synthtrace.batching import shape_batches
from synthtrace.errors import InputError, NotFittedError
from synthtrace.io.perturbations import augment_image
from synthtrace.metrics.detection import roc_auc


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) → float (3, H, W) in [-1, 1], the cnn-small input."""
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)


class CNNSmallClassifier:
    """Real-vs-generated classifier trained end to end from pixels.

    ``fit(images, y)`` takes uint8 RGB arrays; ``decision_function`` returns logits
    (higher = more likely generated).
    """

    def __init__(
        self,
        config: CNNSmallConfig = CNNSmallConfig(),
        *,
        epochs: int = 12,
        batch_size: int = 32,
        crop: int = 64,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        random_state: int = 0,
        augment=None,
    ):
        self.config = config
        self.epochs = epochs
        self.batch_size = batch_size
        self.crop = crop
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.augment = augment  # perturbations.AugmentConfig, or None

    @classmethod
    def from_model(cls, model: CNNSmall) -> CNNSmallClassifier:
        """A fitted classifier around a trained network (a bundle's)."""
        clf = cls(model.config)
        clf.model_ = model
        return clf

    def get_params(self) -> dict:
        return {
            "epochs": self.epochs, "batch_size": self.batch_size, "crop": self.crop,
            "lr": self.lr, "weight_decay": self.weight_decay, "random_state": self.random_state,
            "augment": self.augment.to_dict() if self.augment is not None else None,
        }

    def fit(
        self,
        images: Sequence[np.ndarray],
        y: Sequence[int] | np.ndarray,
        *,
        val_images: Sequence[np.ndarray] | None = None,
        val_y: Sequence[int] | np.ndarray | None = None,
        progress: Callable[[int, int, dict], None] | None = None,
    ) -> CNNSmallClassifier:
        y = np.asarray(y, dtype=np.float32)
        if len(images) != len(y):
            raise InputError(f"{len(images)} images but {len(y)} labels")
        if len(np.unique(y)) < 2:
            raise InputError("training needs both real (0) and generated (1) images; got one class only")
        small = [i for i, im in enumerate(images) if min(im.shape[:2]) < self.crop]
        if small:
            raise InputError(f"{len(small)} training images are smaller than the {self.crop}-px crop (first: index {small[0]})")
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        model = CNNSmall(self.config)
        steps_per_epoch = max(1, int(np.ceil(len(images) / self.batch_size)))
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=self.epochs * steps_per_epoch)
        # With augmentation the pixels change every epoch, so tensors are made per batch.
        tensors = None if self.augment is not None else [to_tensor(im) for im in images]
        aug_rng = np.random.default_rng([self.random_state, 1])
        self.augment_counts_: dict[str, int] = {}
        best_auc, best_state = -1.0, None
        self.history_ = []
        for epoch in range(self.epochs):
            model.train()
            order = rng.permutation(len(images))
            losses = []
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                if tensors is None:
                    batch = torch.stack([self._random_crop(self._augmented(images[i], aug_rng), rng) for i in idx])
                else:
                    batch = torch.stack([self._random_crop(tensors[i], rng) for i in idx])
                target = torch.from_numpy(y[idx])
                loss = F.binary_cross_entropy_with_logits(model(batch), target)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
            record = {"epoch": epoch + 1, "loss": float(np.mean(losses))}
            if val_images is not None and val_y is not None:
                self.model_ = model
                record["val_auc"] = roc_auc(np.asarray(val_y), self.decision_function(val_images))
                if record["val_auc"] >= best_auc:
                    best_auc = record["val_auc"]
                    best_state = {k: v.clone() for k, v in model.state_dict().items()}
            self.history_.append(record)
            if progress:
                progress(epoch + 1, self.epochs, record)
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        self.model_ = model
        return self

    def _augmented(self, rgb: np.ndarray, rng: np.random.Generator) -> torch.Tensor:

        out, ops = augment_image(rgb, rng, self.augment)
        for op in ops:
            self.augment_counts_[op.name] = self.augment_counts_.get(op.name, 0) + 1
        h, w = out.shape[:2]
        if min(h, w) < self.crop:  # a strong down-scale: enlarge just enough for one crop
            f = self.crop / min(h, w)
            out = np.asarray(Image.fromarray(out).resize((max(self.crop, round(w * f)), max(self.crop, round(h * f))), Image.BICUBIC))
        return to_tensor(out)

    def _random_crop(self, t: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        h, w = t.shape[-2:]
        top = int(rng.integers(0, (h - self.crop) // 8 + 1)) * 8
        left = int(rng.integers(0, (w - self.crop) // 8 + 1)) * 8
        return t[:, top : top + self.crop, left : left + self.crop]

    @torch.inference_mode()
    def decision_function(self, images: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise NotFittedError("CNNSmallClassifier is not fitted yet; call fit() first")
        was_training = self.model_.training
        self.model_.eval()
        out = np.empty(len(images), dtype=np.float32)
        for chunk in shape_batches((im.shape for im in images), batch_size):
            batch = torch.stack([to_tensor(images[i]) for i in chunk])
            out[chunk] = self.model_(batch).numpy()
        self.model_.train(was_training)
        return out

    def predict_proba(self, images: Sequence[np.ndarray]) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(images)))
        return np.stack([1 - p, p], axis=1)
