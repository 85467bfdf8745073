//! placeholder
use super::{Filter, Recording};
/// The page.
pub fn render(rec: &Recording, filter: &Filter) -> String {
    super::svg::render(rec, filter, &Default::default())
}
