"""Cloud-side segmentation pipeline (SR + ICNet-style segmenter, key-frame reuse)."""

from cloudseg_ros.segmenter.pipeline import BatchItem, CloudPipeline, KeyFrameFeatures, PipelineResult

__all__ = ["BatchItem", "CloudPipeline", "KeyFrameFeatures", "PipelineResult"]
