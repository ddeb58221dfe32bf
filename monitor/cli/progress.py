"""Progress bars on stderr for long imports (tqdm), behind the ``(done, total)`` callback the
sources take, so the sources stay free of terminal concerns."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["Progress"]


class Progress:
    """``progress(done, total)`` draws a tqdm bar once ``total`` reaches ``minimum``.

    Off when disabled or when stderr is not a terminal (logs stay clean), unless ``force``.
    """

    def __init__(self, enabled: bool, label: str, unit: str, *, minimum: int = 0,
                 scale: bool = False, force: bool = False) -> None:
        self.enabled = enabled and (force or sys.stderr.isatty())
        self.label, self.unit, self.minimum, self.scale = label, unit, minimum, scale
        self._bar: tqdm[NoReturn] | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < self.minimum:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=self.label[:24], unit=self.unit,
                             unit_scale=self.scale, file=sys.stderr, leave=True)
        self._bar.total = max(total, done)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
