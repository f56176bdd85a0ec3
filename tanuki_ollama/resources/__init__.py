"""Resources: what is loaded where (Ollama ``/api/ps``, process RSS, NVML VRAM) and which agent models stay resident."""

from .monitor import ResourceMonitor, ResourceSnapshot, parse_size
from .residency import ResidencyManager

__all__ = ["ResidencyManager", "ResourceMonitor", "ResourceSnapshot", "parse_size"]
