//! Decoders (and a uuid encoder) for Postgres binary values that tokio-postgres leaves to the
//! application, so tests can check smackql's binary encodings exactly.

use std::error::Error;

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

type BoxError = Box<dyn Error + Sync + Send>;

/// A binary `numeric`, rendered as its exact decimal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactNumeric(pub String);

impl<'a> FromSql<'a> for ExactNumeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let word = |i: usize| -> Result<u16, BoxError> {
            let bytes = raw.get(i * 2..i * 2 + 2).ok_or("numeric too short")?;
            Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
        };
        let ndigits = usize::from(word(0)?);
        let weight = i32::from(word(1)? as i16);
        let negative = word(2)? == 0x4000;
        let dscale = usize::from(word(3)?);
        let digits = (0..ndigits)
            .map(|i| word(4 + i))
            .collect::<Result<Vec<_>, _>>()?;
        // Digit groups from 10000^weight down to 10000^-(groups needed for dscale).
        let mut integer = String::new();
        for power in (0..=weight).rev() {
            let group = usize::try_from(weight - power)
                .ok()
                .and_then(|i| digits.get(i))
                .copied()
                .unwrap_or(0);
            integer.push_str(&format!("{group:04}"));
        }
        let integer = integer.trim_start_matches('0');
        let mut fraction = String::new();
        let mut power = -1;
        while fraction.len() < dscale {
            let group = usize::try_from(weight - power)
                .ok()
                .and_then(|i| digits.get(i))
                .copied()
                .unwrap_or(0);
            fraction.push_str(&format!("{group:04}"));
            power -= 1;
        }
        fraction.truncate(dscale);
        let mut text = String::new();
        if negative {
            text.push('-');
        }
        text.push_str(if integer.is_empty() { "0" } else { integer });
        if dscale > 0 {
            text.push('.');
            text.push_str(&fraction);
        }
        Ok(Self(text))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// A binary `uuid`: its 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uuid16(pub [u8; 16]);

impl<'a> FromSql<'a> for Uuid16 {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.try_into()?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
}

impl ToSql for Uuid16 {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }

    to_sql_checked!();
}

/// Any value, kept as raw bytes: for checking nulls of every type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue(pub Vec<u8>);

impl<'a> FromSql<'a> for RawValue {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(words: &[u16]) -> String {
        let raw: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        ExactNumeric::from_sql(&Type::NUMERIC, &raw).unwrap().0
    }

    #[test]
    fn decodes_postgres_numerics() {
        // 12345.678: digits [1, 2345, 6780], weight 1, dscale 3.
        assert_eq!(numeric(&[3, 1, 0, 3, 1, 2345, 6780]), "12345.678");
        // -0.0005: digits [5], weight -1, dscale 4.
        assert_eq!(numeric(&[1, 0xffff, 0x4000, 4, 5]), "-0.0005");
        // 10000: digits [1], weight 1.
        assert_eq!(numeric(&[1, 1, 0, 0, 1]), "10000");
        assert_eq!(numeric(&[0, 0, 0, 2]), "0.00");
    }
}
