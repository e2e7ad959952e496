"""OpenPose body poses: the network, its post-processing, and the skeleton and face maps the ControlNet reads."""

from __future__ import annotations

from .estimator import BodyPoseEstimator
from .keypoints import BodyPose, assemble_people, find_peaks, score_limbs
from .maps import POSE_COLORS, draw_body_poses, draw_face_landmarks, fit_pose_map, is_skeleton_map
from .network import BODY_WEIGHTS_FILE, BodyPoseNet

__all__ = [
    "BODY_WEIGHTS_FILE",
    "POSE_COLORS",
    "BodyPose",
    "BodyPoseEstimator",
    "BodyPoseNet",
    "assemble_people",
    "draw_body_poses",
    "draw_face_landmarks",
    "find_peaks",
    "fit_pose_map",
    "is_skeleton_map",
    "score_limbs",
]
