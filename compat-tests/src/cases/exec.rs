use crate::runner::Case;

pub fn cases() -> Vec<Case> {
    vec![]
}
