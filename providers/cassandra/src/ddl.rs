//! SQL `CREATE TABLE` → CQL `CREATE TABLE`, and `CREATE SCHEMA` → CQL
//! `CREATE KEYSPACE`.
//!
//! ```sql
//! CREATE TABLE ks.events (
//!     campaign_id bigint, day date, ts timestamp, views int,
//!     PRIMARY KEY ((campaign_id, day), ts DESC)
//! ) WITH (default_time_to_live = 86400)
//! ```
//!
//! A parenthesised group at the start of the primary key is the partition
//! key; without one, the first key column is. The columns after it are
//! clustering columns, `ASC` by default. CQL cannot bind DDL values, so the
//! statement text is built only from quoted identifiers, type names from a
//! fixed list, and integers parsed here.

use datafusion::sql::sqlparser::ast::{
    ArrayElemTypeDef, ColumnOption, CreateTable, CreateTableOptions, DataType, Expr, Ident,
    IndexColumn, SqlOption, TableConstraint, Value,
};

use crate::cql::{qualified_table, quote_identifier};
use crate::error::{Error, Result};

/// A Cassandra table to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    /// The keyspace.
    pub keyspace: String,
    /// The table.
    pub table: String,
    /// Every column with its CQL type, in declaration order.
    pub columns: Vec<(String, String)>,
    /// The partition-key columns.
    pub partition_key: Vec<String>,
    /// The clustering columns, each with `true` for descending order.
    pub clustering: Vec<(String, bool)>,
    /// `default_time_to_live` in seconds.
    pub default_ttl: Option<u32>,
    /// `IF NOT EXISTS`
    pub if_not_exists: bool,
}

impl TableDefinition {
    /// The definition a SQL `CREATE TABLE` describes, for `keyspace.table`.
    pub fn from_sql(create: &CreateTable, keyspace: &str, table: &str) -> Result<Self> {
        let unsupported = |what: &str| {
            Err(Error::Unsupported(format!(
                "CREATE TABLE of a Cassandra table does not support {what}"
            )))
        };
        if create.query.is_some() {
            return unsupported("AS SELECT; create the table, then INSERT INTO ... SELECT");
        }
        if create.or_replace || create.temporary || create.external {
            return unsupported("OR REPLACE, TEMPORARY or EXTERNAL");
        }
        let invalid = |m: String| Err(Error::InvalidDefinition(m));

        let mut columns = Vec::with_capacity(create.columns.len());
        let mut key: Option<Vec<KeyPart>> = None;
        for column in &create.columns {
            let name = normalize(&column.name);
            if columns.iter().any(|(n, _)| n == &name) {
                return invalid(format!("column {name} is defined twice"));
            }
            columns.push((name.clone(), cql_type(&column.data_type)?));
            for option in &column.options {
                match &option.option {
                    ColumnOption::PrimaryKey(_) => {
                        if key.is_some() {
                            return invalid("the primary key is defined twice".into());
                        }
                        key = Some(vec![KeyPart::Column(name.clone(), false)]);
                    }
                    // NOT NULL and NULL say nothing Cassandra can keep: key
                    // columns always have values, the others may not.
                    ColumnOption::NotNull | ColumnOption::Null => {}
                    other => return unsupported(&format!("the column option {other}")),
                }
            }
        }
        for constraint in &create.constraints {
            match constraint {
                TableConstraint::PrimaryKey(pk) => {
                    if key.is_some() {
                        return invalid("the primary key is defined twice".into());
                    }
                    key = Some(
                        pk.columns
                            .iter()
                            .map(key_part)
                            .collect::<Result<Vec<_>>>()?,
                    );
                }
                other => return unsupported(&format!("the constraint {other}")),
            }
        }
        let Some(key) = key else {
            return invalid("a Cassandra table needs a PRIMARY KEY".into());
        };

        let mut parts = key.into_iter();
        let partition_key = match parts.next() {
            Some(KeyPart::Group(names)) => names,
            Some(KeyPart::Column(name, false)) => vec![name],
            Some(KeyPart::Column(name, true)) => {
                return invalid(format!("partition-key column {name} has no order"))
            }
            None => return invalid("the PRIMARY KEY names no column".into()),
        };
        let clustering = parts
            .map(|part| match part {
                KeyPart::Column(name, desc) => Ok((name, desc)),
                KeyPart::Group(_) => Err(Error::InvalidDefinition(
                    "only the first PRIMARY KEY entry may be a (partition key) group".into(),
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut seen: Vec<&str> = Vec::new();
        for name in partition_key
            .iter()
            .chain(clustering.iter().map(|(n, _)| n))
        {
            if !columns.iter().any(|(c, _)| c == name) {
                return invalid(format!("key column {name} is not a column of the table"));
            }
            if seen.contains(&name.as_str()) {
                return invalid(format!("key column {name} appears twice"));
            }
            seen.push(name);
        }

        let mut default_ttl = None;
        let options: &[SqlOption] = match &create.table_options {
            CreateTableOptions::None => &[],
            CreateTableOptions::With(options) => options,
            _ => return unsupported("table options other than WITH (...)"),
        };
        let mut unknown = Vec::new();
        for option in options {
            let SqlOption::KeyValue { key, value } = option else {
                return unsupported(&format!("the option {option}"));
            };
            match key.value.to_ascii_lowercase().as_str() {
                "default_time_to_live" | "ttl" => {
                    default_ttl = Some(whole_number(value).ok_or_else(|| {
                        Error::InvalidDefinition(format!(
                            "{} must be a whole number of seconds, not {value}",
                            key.value
                        ))
                    })?);
                }
                _ => unknown.push(key.value.clone()),
            }
        }
        if !unknown.is_empty() {
            return invalid(format!(
                "unknown table option(s) {}; supported: default_time_to_live (alias ttl)",
                unknown.join(", ")
            ));
        }

        Ok(Self {
            keyspace: keyspace.to_string(),
            table: table.to_string(),
            columns,
            partition_key,
            clustering,
            default_ttl,
            if_not_exists: create.if_not_exists,
        })
    }

    /// The CQL statement that creates the table.
    pub fn cql(&self) -> String {
        let mut text = String::from("CREATE TABLE ");
        if self.if_not_exists {
            text.push_str("IF NOT EXISTS ");
        }
        text.push_str(&qualified_table(&self.keyspace, &self.table));
        text.push_str(" (");
        for (name, typ) in &self.columns {
            text.push_str(&format!("{} {typ}, ", quote_identifier(name)));
        }
        let quoted = |names: &mut dyn Iterator<Item = &String>| {
            names.map(|n| quote_identifier(n)).collect::<Vec<_>>()
        };
        let mut key = vec![format!(
            "({})",
            quoted(&mut self.partition_key.iter()).join(", ")
        )];
        key.extend(quoted(&mut self.clustering.iter().map(|(n, _)| n)));
        text.push_str(&format!("PRIMARY KEY ({}))", key.join(", ")));

        let mut with = Vec::new();
        if !self.clustering.is_empty() {
            let order: Vec<String> = self
                .clustering
                .iter()
                .map(|(n, desc)| {
                    format!(
                        "{} {}",
                        quote_identifier(n),
                        if *desc { "DESC" } else { "ASC" }
                    )
                })
                .collect();
            with.push(format!("CLUSTERING ORDER BY ({})", order.join(", ")));
        }
        if let Some(ttl) = self.default_ttl {
            with.push(format!("default_time_to_live = {ttl}"));
        }
        if !with.is_empty() {
            text.push_str(" WITH ");
            text.push_str(&with.join(" AND "));
        }
        text
    }
}

/// A Cassandra keyspace to create.
///
/// `CREATE SCHEMA ks` uses `SimpleStrategy` with one replica;
/// `WITH (replication_factor = 3)` sets the count, and
/// `WITH (class = 'NetworkTopologyStrategy', dc1 = 3, dc2 = 2)` places
/// replicas per data centre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyspaceDefinition {
    /// The keyspace.
    pub keyspace: String,
    /// The replication strategy class.
    pub class: String,
    /// `replication_factor` or data-centre name, with its replica count.
    pub replication: Vec<(String, u32)>,
    /// `IF NOT EXISTS`
    pub if_not_exists: bool,
}

impl KeyspaceDefinition {
    /// The keyspace `CREATE SCHEMA keyspace WITH (options)` describes.
    pub fn from_sql(keyspace: &str, if_not_exists: bool, options: &[SqlOption]) -> Result<Self> {
        let invalid = |m: String| Err(Error::InvalidDefinition(m));
        let mut class = "SimpleStrategy".to_string();
        let mut replication = Vec::new();
        for option in options {
            let SqlOption::KeyValue { key, value } = option else {
                return invalid(format!("unsupported schema option {option}"));
            };
            let name = key.value.clone();
            if name.eq_ignore_ascii_case("class") {
                class = match string(value).as_deref() {
                    Some("SimpleStrategy") => "SimpleStrategy".into(),
                    Some("NetworkTopologyStrategy") => "NetworkTopologyStrategy".into(),
                    _ => {
                        return invalid(format!(
                        "class must be 'SimpleStrategy' or 'NetworkTopologyStrategy', not {value}"
                    ))
                    }
                };
                continue;
            }
            let usable = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !usable {
                return invalid(format!("{name:?} is not a data centre name"));
            }
            let Some(count) = whole_number(value) else {
                return invalid(format!(
                    "{name} must be a whole number of replicas, not {value}"
                ));
            };
            replication.push((name, count));
        }
        if replication.is_empty() {
            replication.push(("replication_factor".to_string(), 1));
        }
        if class == "SimpleStrategy"
            && (replication.len() != 1 || replication[0].0 != "replication_factor")
        {
            return invalid(
                "SimpleStrategy takes only replication_factor; name data centres with \
                 class = 'NetworkTopologyStrategy'"
                    .into(),
            );
        }
        Ok(Self {
            keyspace: keyspace.to_string(),
            class,
            replication,
            if_not_exists,
        })
    }

    /// The CQL statement that creates the keyspace.
    pub fn cql(&self) -> String {
        // The class and names were checked to be plain words, so quoting
        // them as CQL strings is safe.
        let mut map = vec![format!("'class': '{}'", self.class)];
        map.extend(
            self.replication
                .iter()
                .map(|(name, count)| format!("'{name}': {count}")),
        );
        format!(
            "CREATE KEYSPACE {}{} WITH replication = {{{}}}",
            if self.if_not_exists {
                "IF NOT EXISTS "
            } else {
                ""
            },
            quote_identifier(&self.keyspace),
            map.join(", ")
        )
    }
}

fn string(value: &Expr) -> Option<String> {
    match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        Expr::Identifier(ident) => Some(ident.value.clone()),
        _ => None,
    }
}

/// The name an identifier denotes, as DataFusion and CQL both read it:
/// unquoted names fold to lower case, quoted ones stay as written.
pub fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// One entry of a `PRIMARY KEY (...)` list.
enum KeyPart {
    /// `(a, b)`: a composite partition key.
    Group(Vec<String>),
    /// `a`, `a DESC`
    Column(String, bool),
}

fn key_part(column: &IndexColumn) -> Result<KeyPart> {
    let desc = column.column.options.asc == Some(false);
    let name = |e: &Expr| match e {
        Expr::Identifier(ident) => Ok(normalize(ident)),
        other => Err(Error::InvalidDefinition(format!(
            "{other} is not a column name in PRIMARY KEY"
        ))),
    };
    match &column.column.expr {
        Expr::Tuple(items) if !desc => Ok(KeyPart::Group(
            items.iter().map(name).collect::<Result<Vec<_>>>()?,
        )),
        Expr::Nested(inner) if !desc => Ok(KeyPart::Group(vec![name(inner)?])),
        other => Ok(KeyPart::Column(name(other)?, desc)),
    }
}

fn whole_number(value: &Expr) -> Option<u32> {
    match value {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            Value::SingleQuotedString(s) => s.trim().parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The CQL type of a SQL column type.
pub fn cql_type(sql: &DataType) -> Result<String> {
    Ok(match sql {
        DataType::TinyInt(_) => "tinyint".into(),
        DataType::SmallInt(_) | DataType::Int2(_) => "smallint".into(),
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "int".into(),
        DataType::BigInt(_) | DataType::Int8(_) => "bigint".into(),
        DataType::Real | DataType::Float4 => "float".into(),
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 => "double".into(),
        DataType::Float(info) => match info {
            datafusion::sql::sqlparser::ast::ExactNumberInfo::Precision(p)
            | datafusion::sql::sqlparser::ast::ExactNumberInfo::PrecisionAndScale(p, _)
                if *p <= 24 =>
            {
                "float".into()
            }
            _ => "double".into(),
        },
        DataType::Boolean | DataType::Bool => "boolean".into(),
        DataType::Text
        | DataType::Varchar(_)
        | DataType::CharacterVarying(_)
        | DataType::String(_) => "text".into(),
        DataType::Bytea | DataType::Blob(_) | DataType::Varbinary(_) => "blob".into(),
        DataType::Date => "date".into(),
        DataType::Time(..) => "time".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Uuid => "uuid".into(),
        DataType::Decimal(_) | DataType::Numeric(_) => "decimal".into(),
        DataType::Interval { .. } => "duration".into(),
        DataType::Array(
            ArrayElemTypeDef::SquareBracket(inner, _)
            | ArrayElemTypeDef::AngleBracket(inner)
            | ArrayElemTypeDef::Parenthesis(inner),
        ) => format!("list<{}>", frozen_if_nested(cql_type(inner)?)),
        DataType::Custom(name, args) if args.is_empty() => {
            match name.to_string().to_ascii_lowercase().as_str() {
                "inet" => "inet".into(),
                "timeuuid" => "timeuuid".into(),
                "varint" => "varint".into(),
                "ascii" => "ascii".into(),
                "duration" => "duration".into(),
                other => return Err(unsupported_type(other)),
            }
        }
        other => return Err(unsupported_type(&other.to_string())),
    })
}

fn frozen_if_nested(inner: String) -> String {
    if inner.starts_with("list<") {
        format!("frozen<{inner}>")
    } else {
        inner
    }
}

fn unsupported_type(name: &str) -> Error {
    Error::Unsupported(format!(
        "type {name} has no Cassandra equivalent in CREATE TABLE; create tables with \
         maps, sets, tuples or user-defined types in CQL"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::ast::Statement;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn define(sql: &str) -> Result<TableDefinition> {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        let Statement::CreateTable(create) = &statements[0] else {
            panic!("not a CREATE TABLE: {sql}")
        };
        TableDefinition::from_sql(create, "ks", "t")
    }

    #[test]
    fn composite_partition_keys_and_clustering_order() {
        let table = define(
            "CREATE TABLE ks.t (campaign_id bigint, day date, ts timestamptz, views int, \
             tags text[], PRIMARY KEY ((campaign_id, day), ts DESC)) \
             WITH (default_time_to_live = 3600)",
        )
        .unwrap();
        assert_eq!(
            table.cql(),
            "CREATE TABLE \"ks\".\"t\" (\"campaign_id\" bigint, \"day\" date, \"ts\" timestamp, \
             \"views\" int, \"tags\" list<text>, PRIMARY KEY ((\"campaign_id\", \"day\"), \"ts\")) \
             WITH CLUSTERING ORDER BY (\"ts\" DESC) AND default_time_to_live = 3600"
        );
    }

    #[test]
    fn a_single_key_column() {
        let table =
            define("CREATE TABLE IF NOT EXISTS ks.t (id uuid PRIMARY KEY, n numeric)").unwrap();
        assert_eq!(
            table.cql(),
            "CREATE TABLE IF NOT EXISTS \"ks\".\"t\" (\"id\" uuid, \"n\" decimal, \
             PRIMARY KEY ((\"id\")))"
        );
        let table = define("CREATE TABLE ks.t (a int, B text, PRIMARY KEY (a, b))").unwrap();
        assert_eq!(table.partition_key, vec!["a"]);
        assert_eq!(table.clustering, vec![("b".to_string(), false)]);
    }

    #[test]
    fn mistakes_are_named() {
        let message = |sql: &str| define(sql).unwrap_err().to_string();
        assert!(message("CREATE TABLE ks.t (a int)").contains("PRIMARY KEY"));
        assert!(message("CREATE TABLE ks.t (a int, PRIMARY KEY (b))").contains("key column b"));
        assert!(
            message("CREATE TABLE ks.t (a int, PRIMARY KEY (a)) WITH (gc = 1, x = 2)")
                .contains("gc, x")
        );
        assert!(
            message("CREATE TABLE ks.t (a int, PRIMARY KEY (a)) WITH (ttl = 'soon')")
                .contains("whole number")
        );
        assert!(message("CREATE TABLE ks.t (a point, PRIMARY KEY (a))").contains("point"));
        assert!(message("CREATE TABLE ks.t (a int, PRIMARY KEY (a, (a)))").contains("first"));
    }

    fn keyspace(sql: &str) -> Result<KeyspaceDefinition> {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        let Statement::CreateSchema {
            if_not_exists,
            with,
            ..
        } = &statements[0]
        else {
            panic!("not a CREATE SCHEMA: {sql}")
        };
        KeyspaceDefinition::from_sql("Shop", *if_not_exists, with.as_deref().unwrap_or(&[]))
    }

    #[test]
    fn keyspaces() {
        assert_eq!(
            keyspace("CREATE SCHEMA shop").unwrap().cql(),
            "CREATE KEYSPACE \"Shop\" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
        );
        assert_eq!(
            keyspace(
                "CREATE SCHEMA IF NOT EXISTS shop WITH (class = 'NetworkTopologyStrategy', dc1 = 3, \"dc-2\" = 2)"
            )
            .unwrap()
            .cql(),
            "CREATE KEYSPACE IF NOT EXISTS \"Shop\" WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc-2': 2}"
        );
        assert!(keyspace("CREATE SCHEMA s WITH (dc1 = 3)").is_err());
        assert!(keyspace("CREATE SCHEMA s WITH (class = 'Other')").is_err());
        assert!(keyspace("CREATE SCHEMA s WITH (\"a'b\" = 1)").is_err());
        assert!(keyspace("CREATE SCHEMA s WITH (replication_factor = 'x')").is_err());
    }

    #[test]
    fn identifiers_are_quoted_not_spliced() {
        let table =
            define("CREATE TABLE ks.t (\"we\"\"ird; --\" int, PRIMARY KEY (\"we\"\"ird; --\"))")
                .unwrap();
        assert!(
            table.cql().contains("\"we\"\"ird; --\" int"),
            "{}",
            table.cql()
        );
    }
}
