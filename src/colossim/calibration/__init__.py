"""Your own calibration: nccl-tests and GEMM-sweep measurements fitted into an efficiency profile."""
