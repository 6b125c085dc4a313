//! Docker create request → OCI Linux runtime spec. (Being written.)
