//! HCS adapter. (Being written: issue 5.)
