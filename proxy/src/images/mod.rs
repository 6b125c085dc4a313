//! The image store on containerd. (Being written.)
