//! placeholder
use super::{Filter, Recording};
use std::io::{BufRead, Write};
/// all
pub fn print_all(_rec: &Recording, _f: &Filter, _out: &mut impl Write) -> std::io::Result<()> { Ok(()) }
/// interactive
pub fn interactive(_rec: &Recording, _f: &Filter, _i: &mut impl BufRead, _out: &mut impl Write) -> std::io::Result<()> { Ok(()) }
