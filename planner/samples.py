"""The load samples a plan is judged at (a load history's critical samples)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class LoadSamples:
    """K load vectors at which a plan is judged (a load history's critical samples).

    Attributes
    ----------
    vm_cpu_milli:
        int (K, V): CPU demand of each VM per sample, milli logical processors (0 for VMs
        that do not consume).
    vm_mem_mb:
        int (K, V): memory of each VM per sample, MB (0 for VMs that do not consume).
    host_cpu_base_milli:
        int (K, H): the hosts' own CPU use per sample, milli logical processors.
    statistic:
        The load statistic the samples were chosen for (``None``: not from a history).
    indices:
        The history sample of each vector (``-1``: the statistic's own vector), so that a
        verifier can rebuild the same samples from the snapshot's history.
    threshold_hosts:
        Per sample, the hosts whose CPU threshold counts there (``None``: every host); empty
        (the default): every host at every sample.  Elsewhere only capacity holds.  A plan
        judged at a quantile of each node's load needs a node under the threshold only at
        its own critical samples, so that VMs whose peaks do not coincide may share it.
    """

    vm_cpu_milli: np.ndarray
    vm_mem_mb: np.ndarray
    host_cpu_base_milli: np.ndarray
    statistic: str | None = None
    indices: tuple[int, ...] = ()
    threshold_hosts: tuple[tuple[int, ...] | None, ...] = ()

    @property
    def n_samples(self) -> int:
        """Number of samples K."""
        return int(self.vm_cpu_milli.shape[0])

    def threshold_mask(self, n_hosts: int) -> np.ndarray:
        """bool (K, H): where the CPU threshold counts (see ``threshold_hosts``)."""
        mask = np.ones((self.n_samples, n_hosts), dtype=bool)
        for i, hosts in enumerate(self.threshold_hosts[: self.n_samples]):
            if hosts is not None:
                mask[i] = False
                mask[i, list(hosts)] = True
        return mask


__all__ = ["LoadSamples"]
