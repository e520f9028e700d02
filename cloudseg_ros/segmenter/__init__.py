"""Cloud-side segmentation pipeline (SR + ICNet-style segmenter, key-frame reuse)."""

from cloudseg_ros.segmenter.pipeline import CloudPipeline, KeyFrameFeatures, PipelineResult

__all__ = ["CloudPipeline", "KeyFrameFeatures", "PipelineResult"]
