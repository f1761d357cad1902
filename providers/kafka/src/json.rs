//! Where each declared column of a JSON table sits in a message.
//!
//! By default a column is the top-level field of its own name. The option
//! `'json.path.<column>' 'a.b.c'` places it inside nested objects instead.
//! The layout turns those paths into one Arrow schema of nested structs,
//! which arrow-json reads in one pass (fields not in it are ignored), and
//! back: reading takes the leaves out, writing nests the columns in.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use datafusion::error::Result;

use crate::error::Error;

/// The JSON shape of a table's declared columns.
#[derive(Debug, Clone)]
pub(crate) struct JsonLayout {
    /// What arrow-json reads and writes: nested structs down to the leaves.
    schema: SchemaRef,
    /// For each declared column, the child positions leading to its leaf.
    leaves: Vec<Vec<usize>>,
}

/// A node of the layout while it is built.
#[derive(Default)]
struct Node {
    /// Children in first-seen order, by field name.
    children: Vec<(String, Child)>,
}

enum Child {
    Leaf(FieldRef),
    Object(Node),
}

impl JsonLayout {
    /// The layout of `columns` (as arrow-json should read them), with
    /// `paths` by column name; columns without a path are top-level fields.
    pub(crate) fn try_new(
        columns: &[FieldRef],
        paths: &BTreeMap<String, String>,
    ) -> std::result::Result<Self, Error> {
        for column in paths.keys() {
            if !columns.iter().any(|f| f.name() == column) {
                return Err(Error::Columns(format!(
                    "option 'json.path.{column}' names column '{column}', which is not declared"
                )));
            }
        }
        let mut root = Node::default();
        let mut leaves = Vec::with_capacity(columns.len());
        for field in columns {
            let path = paths.get(field.name()).map(String::as_str);
            let segments: Vec<&str> = match path {
                Some(path) => path.split('.').collect(),
                None => vec![field.name().as_str()],
            };
            if segments.iter().any(|s| s.is_empty()) {
                return Err(Error::Columns(format!(
                    "option 'json.path.{}' is '{}': a path is field names joined by '.', \
                     such as 'payload.after.id'",
                    field.name(),
                    path.unwrap_or_default()
                )));
            }
            leaves.push(root.insert(field, &segments)?);
        }
        Ok(Self {
            schema: Arc::new(Schema::new(root.fields())),
            leaves,
        })
    }

    /// The schema arrow-json reads and writes.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Whether every column is a top-level field of its own name.
    pub(crate) fn is_flat(&self) -> bool {
        self.leaves.iter().enumerate().all(|(i, leaf)| *leaf == [i])
            && self
                .schema
                .fields()
                .iter()
                .all(|f| !matches!(f.data_type(), DataType::Struct(_)))
    }

    /// The declared columns of a batch arrow-json read with [`Self::schema`]:
    /// a leaf is null wherever an object on its path is.
    pub(crate) fn extract(&self, batch: &RecordBatch) -> Vec<ArrayRef> {
        self.leaves
            .iter()
            .map(|path| {
                let mut column = batch.column(path[0]).clone();
                // The nulls of the objects on the way down.
                let mut objects: Option<NullBuffer> = None;
                for &child in &path[1..] {
                    objects = NullBuffer::union(objects.as_ref(), column.logical_nulls().as_ref());
                    column = column.as_struct().column(child).clone();
                }
                match objects {
                    Some(objects) if objects.null_count() > 0 => {
                        let nulls =
                            NullBuffer::union(Some(&objects), column.logical_nulls().as_ref());
                        with_nulls(&column, nulls)
                    }
                    _ => column,
                }
            })
            .collect()
    }

    /// `columns` (the declared ones, in order) nested as [`Self::schema`]
    /// says, for arrow-json to write.
    pub(crate) fn nest(&self, columns: &[ArrayRef]) -> Result<RecordBatch> {
        let mut built: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (position, field) in self.schema.fields().iter().enumerate() {
            built.push(self.build(field, &[position], columns)?);
        }
        Ok(RecordBatch::try_new(self.schema.clone(), built)?)
    }

    fn build(&self, field: &FieldRef, at: &[usize], columns: &[ArrayRef]) -> Result<ArrayRef> {
        match field.data_type() {
            DataType::Struct(children) if !self.leaves.iter().any(|l| l == at) => {
                let mut arrays = Vec::with_capacity(children.len());
                for (i, child) in children.iter().enumerate() {
                    let mut path = at.to_vec();
                    path.push(i);
                    arrays.push(self.build(child, &path, columns)?);
                }
                Ok(Arc::new(StructArray::try_new(
                    children.clone(),
                    arrays,
                    None,
                )?))
            }
            _ => {
                let index = self.leaves.iter().position(|l| l == at).ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal(format!(
                        "no column at JSON position {at:?}"
                    ))
                })?;
                Ok(columns[index].clone())
            }
        }
    }
}

impl Node {
    /// Adds `field` at `segments`, returning the child positions to it.
    fn insert(
        &mut self,
        field: &FieldRef,
        segments: &[&str],
    ) -> std::result::Result<Vec<usize>, Error> {
        let (name, rest) = match segments {
            [name, rest @ ..] => (*name, rest),
            [] => unreachable!("paths have at least one segment"),
        };
        let clash = || {
            Error::Columns(format!(
                "column '{}' is placed at JSON field '{}', which another column also uses",
                field.name(),
                segments.join(".")
            ))
        };
        let position = self.children.iter().position(|(n, _)| n == name);
        if rest.is_empty() {
            if position.is_some() {
                return Err(clash());
            }
            self.children.push((
                name.to_string(),
                Child::Leaf(Arc::new(field.as_ref().clone().with_name(name))),
            ));
            return Ok(vec![self.children.len() - 1]);
        }
        let position = match position {
            Some(p) => p,
            None => {
                self.children
                    .push((name.to_string(), Child::Object(Node::default())));
                self.children.len() - 1
            }
        };
        let Child::Object(node) = &mut self.children[position].1 else {
            return Err(clash());
        };
        let mut path = vec![position];
        path.extend(node.insert(field, rest)?);
        Ok(path)
    }

    fn fields(&self) -> Fields {
        self.children
            .iter()
            .map(|(name, child)| match child {
                Child::Leaf(field) => field.clone(),
                Child::Object(node) => {
                    Arc::new(Field::new(name, DataType::Struct(node.fields()), true))
                }
            })
            .collect()
    }
}

/// `column` with `nulls` in place of its own.
fn with_nulls(column: &ArrayRef, nulls: Option<NullBuffer>) -> ArrayRef {
    let data = column.to_data().into_builder().nulls(nulls);
    // The values are unchanged and the buffer has the column's length.
    match data.build() {
        Ok(data) => datafusion::arrow::array::make_array(data),
        Err(_) => column.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::json::reader::ReaderBuilder;
    use datafusion::arrow::json::LineDelimitedWriter;

    fn columns() -> Vec<FieldRef> {
        vec![
            Arc::new(Field::new("id", DataType::Int64, true)),
            Arc::new(Field::new("name", DataType::Utf8, true)),
            Arc::new(Field::new("at", DataType::Utf8, true)),
        ]
    }

    fn paths(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn read(layout: &JsonLayout, text: &str) -> Vec<ArrayRef> {
        let mut decoder = ReaderBuilder::new(layout.schema().clone())
            .build_decoder()
            .unwrap();
        decoder.decode(text.as_bytes()).unwrap();
        layout.extract(&decoder.flush().unwrap().unwrap())
    }

    #[test]
    fn nested_paths_read_and_write_the_same_shape() {
        let layout = JsonLayout::try_new(
            &columns(),
            &paths(&[("id", "payload.after.id"), ("name", "payload.after.who")]),
        )
        .unwrap();
        assert!(!layout.is_flat());
        let columns = read(
            &layout,
            r#"{"payload":{"after":{"id":7,"who":"a"},"x":1},"at":"now"}
{"payload":null,"at":"later"}
{"payload":{"after":{"id":8}}}
"#,
        );
        let ids = columns[0].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(ids.iter().collect::<Vec<_>>(), [Some(7), None, Some(8)]);
        let names = columns[1].as_string::<i32>();
        assert_eq!(names.iter().collect::<Vec<_>>(), [Some("a"), None, None]);
        let at = columns[2].as_string::<i32>();
        assert_eq!(
            at.iter().collect::<Vec<_>>(),
            [Some("now"), Some("later"), None]
        );

        let nested = layout
            .nest(&[
                Arc::new(Int64Array::from(vec![Some(1)])) as ArrayRef,
                Arc::new(StringArray::from(vec![Some("b")])),
                Arc::new(StringArray::from(vec![None::<&str>])),
            ])
            .unwrap();
        let mut out = Vec::new();
        let mut writer = LineDelimitedWriter::new(&mut out);
        writer.write(&nested).unwrap();
        writer.finish().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"payload\":{\"after\":{\"id\":1,\"who\":\"b\"}}}\n"
        );
    }

    #[test]
    fn flat_layouts_and_bad_paths() {
        assert!(JsonLayout::try_new(&columns(), &BTreeMap::new())
            .unwrap()
            .is_flat());
        for bad in [
            paths(&[("nope", "a")]),
            paths(&[("id", "a..b")]),
            paths(&[("id", "name")]),
            paths(&[("id", "a"), ("name", "a.b")]),
        ] {
            assert!(JsonLayout::try_new(&columns(), &bad).is_err(), "{bad:?}");
        }
    }
}
