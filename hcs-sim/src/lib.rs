//! HCS simulator. (Being written: issue 5.)
