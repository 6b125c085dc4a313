//! Docker create request → OCI Windows runtime spec. (Being written: issue 3.)
