//! Reading a map of the document straight into its typed model, without building the JSON
//! values [`super::tree`] reads it as.
//!
//! A merge reads the household it makes, and in a profile of the server under W3 (2026-12-07)
//! that read was 7.1 % of all samples, a fifth of the merges', 6.2 % of them making
//! `serde_json` maps and strings and `serde_json::from_value` taking them apart again. Here
//! serde's visitors walk automerge's own map iterator instead, and take the scalars as
//! automerge holds them.
//!
//! It is a fast path, not a second reader: it hands the visitors exactly what `serde_json`
//! would hand them from the JSON form of the same map (an integer as `u64` when not negative,
//! map keys parsed as `serde_json` parses them). Colliding maps (a key with concurrent values
//! holding a map, see [`super::tree`]) are unioned by the general reader and handed over in
//! its JSON form, that value only. Wherever else the two could differ — a value outside the
//! layout (bytes, a list, a counter), or any error at all — it returns [`Miss`] and the caller
//! reads the document the general way, which also gives an error its path. The tests below
//! compare the two on documents merged from several devices' edits.

use std::borrow::Cow;
use std::fmt;

use automerge::iter::MapRange;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValueRef, ValueRef};
use serde::de::{self, DeserializeSeed, Deserializer as _, IntoDeserializer, MapAccess, Visitor};
use serde::forward_to_deserialize_any;

use super::conflicts::Gathered;
use super::tree::{MAX_DEPTH, concurrent_key};

/// The fast path did not read the map; read it the general way.
#[derive(Debug)]
pub(crate) struct Miss;

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("read the general way")
    }
}

impl std::error::Error for Miss {}

impl de::Error for Miss {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Miss
    }
}

/// `T` from the map `obj`, without its keys in `skip`, gathering into `found` the keys with
/// concurrent values as [`super::tree::read_map_gathering`] does. On [`Miss`], `found` may hold
/// part of them: the caller starts again with a fresh one.
pub(crate) fn read<T: de::DeserializeOwned>(
    doc: &AutoCommit,
    obj: &ObjId,
    skip: &[&str],
    found: &mut Gathered,
) -> Result<T, Miss> {
    T::deserialize(MapDe {
        doc,
        obj: obj.clone(),
        depth: 0,
        skip,
        found,
    })
}

/// What every deserializer here does alike. A value is there (nothing the fast path reads is
/// null): `Some` for an `Option`, and the value itself inside a newtype, as `serde_json` hands
/// out a value that is not null. An enum is the unit variant its text names (`$text`, an
/// `Option<&str>` of `$this`), as `serde_json` reads an enum from a string.
macro_rules! present_value {
    ($this:ident => $text:expr) => {
        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Miss> {
            visitor.visit_some(self)
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            visitor: V,
        ) -> Result<V::Value, Miss> {
            visitor.visit_newtype_struct(self)
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Miss> {
            let $this = &self;
            let text: Option<&str> = $text;
            let de: de::value::StrDeserializer<'_, Miss> = text.ok_or(Miss)?.into_deserializer();
            de::Deserializer::deserialize_enum(de, name, variants, visitor)
        }
    };
}

/// One map of the document as a serde deserializer.
struct MapDe<'a, 'g> {
    doc: &'a AutoCommit,
    obj: ObjId,
    depth: usize,
    skip: &'a [&'a str],
    found: &'g mut Gathered,
}

impl<'de> de::Deserializer<'de> for MapDe<'_, '_> {
    type Error = Miss;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Miss> {
        if self.depth > MAX_DEPTH {
            return Err(Miss);
        }
        let entries = Entries {
            range: self.doc.map_range(&self.obj, ..),
            de: self,
            pending: None,
        };
        visitor.visit_map(entries)
    }

    // An enum held as a map is not in the layout: left to the general way.
    present_value!(_this => None);

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// A map's entries, visible values only, nulls (cleared fields) left out.
struct Entries<'a, 'g> {
    de: MapDe<'a, 'g>,
    range: MapRange<'a>,
    /// The value of the key just handed out.
    pending: Option<Pending<'a>>,
}

enum Pending<'a> {
    Scalar(ScalarValueRef<'a>),
    Map { id: ObjId, key: Cow<'a, str> },
    Union(serde_json::Map<String, serde_json::Value>),
}

impl<'de, 'a> MapAccess<'de> for Entries<'a, '_> {
    type Error = Miss;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Miss> {
        for item in self.range.by_ref() {
            // Gathered as the general reader gathers it; colliding maps are unioned as it
            // unions them, and only that value takes the JSON form.
            let union = if item.conflict {
                let shows_map = matches!(item.value, ValueRef::Object(ObjType::Map));
                let de = &mut self.de;
                let (key, depth) = (&item.key, de.depth + 1);
                concurrent_key(de.doc, &de.obj, key, shows_map, depth, Some(&mut *de.found))
                    .map_err(|_| Miss)?
            } else {
                None
            };
            let pending = match item.value {
                ValueRef::Object(ObjType::Map) => match union {
                    Some(union) => Pending::Union(union),
                    None => Pending::Map {
                        id: item.id(),
                        key: item.key.clone(),
                    },
                },
                ValueRef::Object(_) => return Err(Miss),
                ValueRef::Scalar(s) => match s {
                    ScalarValueRef::Null => continue,
                    ScalarValueRef::F64(f) if !f.is_finite() => continue,
                    ScalarValueRef::Bytes(_)
                    | ScalarValueRef::Unknown { .. }
                    | ScalarValueRef::Counter(_) => return Err(Miss),
                    s => Pending::Scalar(s),
                },
            };
            // Keys the caller reads elsewhere (the root's kind and schema) are passed over.
            if self.de.skip.contains(&item.key.as_ref()) {
                if !matches!(pending, Pending::Scalar(_)) {
                    return Err(Miss);
                }
                continue;
            }
            self.pending = Some(pending);
            return seed.deserialize(KeyDe(&item.key)).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Miss> {
        match self.pending.take().ok_or(Miss)? {
            Pending::Scalar(s) => seed.deserialize(ScalarDe(s)),
            Pending::Union(map) => seed
                .deserialize(serde_json::Value::Object(map))
                .map_err(|_| Miss),
            Pending::Map { id, key } => {
                let doc = self.de.doc;
                let depth = self.de.depth + 1;
                let mut value = Err(Miss);
                self.de
                    .found
                    .within(&key, |found| {
                        value = seed.deserialize(MapDe {
                            doc,
                            obj: id,
                            depth,
                            skip: &[],
                            found,
                        });
                        Ok(())
                    })
                    .map_err(|_| Miss)?;
                value
            }
        }
    }
}

/// A scalar as `serde_json` hands out the JSON value [`super::tree::scalar_to_json`] makes of it.
struct ScalarDe<'a>(ScalarValueRef<'a>);

impl<'de> de::Deserializer<'de> for ScalarDe<'_> {
    type Error = Miss;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Miss> {
        match self.0 {
            ScalarValueRef::Str(s) => visitor.visit_str(&s),
            // `serde_json::Value::from(i64)` holds a number that is not negative as a `u64`.
            ScalarValueRef::Int(i) | ScalarValueRef::Timestamp(i) => match u64::try_from(i) {
                Ok(u) => visitor.visit_u64(u),
                Err(_) => visitor.visit_i64(i),
            },
            ScalarValueRef::Uint(u) => visitor.visit_u64(u),
            ScalarValueRef::F64(f) => visitor.visit_f64(f),
            ScalarValueRef::Boolean(b) => visitor.visit_bool(b),
            _ => Err(Miss),
        }
    }

    present_value!(this => match &this.0 {
        ScalarValueRef::Str(s) => Some(s.as_ref()),
        _ => None,
    });

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// A map key. Numbers and booleans are parsed from it as `serde_json` parses the keys of a
/// JSON object (a map keyed by year, a set of codes); anything else is the text itself.
struct KeyDe<'k>(&'k str);

impl KeyDe<'_> {
    /// The key as a JSON number, all of it: `serde_json` wants a digit or `-` first and
    /// nothing after the number, and hands the number out as [`serde_json::Number`] does.
    fn number<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Miss> {
        if !self.0.starts_with(|c: char| c.is_ascii_digit() || c == '-')
            || self.0.ends_with(|c: char| c.is_ascii_whitespace())
        {
            return Err(Miss);
        }
        let number: serde_json::Number = serde_json::from_str(self.0).map_err(|_| Miss)?;
        number.deserialize_any(visitor).map_err(|_| Miss)
    }
}

macro_rules! numeric_keys {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Miss> {
            self.number(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for KeyDe<'_> {
    type Error = Miss;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Miss> {
        visitor.visit_str(self.0)
    }

    numeric_keys! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_u8
        deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32 deserialize_f64
    }

    // `serde_json` reads these keys with a parser of their own; none is in the layout.
    fn deserialize_i128<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Miss> {
        Err(Miss)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Miss> {
        Err(Miss)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Miss> {
        match self.0 {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(Miss),
        }
    }

    present_value!(this => Some(this.0));

    forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use automerge::ActorId;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::codes::{CaseKind, ProcedureStep, StepOutcome};
    use crate::demo::{case_record, fill_typical, step_record};
    use crate::doc::{ChangeAuthor, HouseholdDoc, LAYOUT_KEYS, tree};
    use crate::ids::HouseholdId;
    use crate::model::Household;
    use crate::rng::{Draw, SplitMix64};

    fn author(n: u8) -> ChangeAuthor {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, n.into(), 0);
        ChangeAuthor::new(format!("user{n}"), format!("device{n}"), at.unwrap())
    }

    /// Fields a form may set, and values for them (some the model refuses: the edit is then
    /// refused whole, as on a device).
    const EDITS: &[(&str, &[&str])] = &[
        ("living.house_grade", &["\"a\"", "\"c\"", "\"d\"", "null"]),
        ("living.house_area_m2", &["80", "120", "0", "null"]),
        (
            "info.phone",
            &["\"13800000000\"", "\"13912345678\"", "null"],
        ),
        ("info.food_secure", &["true", "false", "null"]),
        ("water.litres_per_person_day", &["40", "100"]),
        ("land.cultivated_mu", &["3", "5.5", "null"]),
        (
            "info.other_causes",
            &["{\"lack_funds\": true}", "{\"illness\": null}"],
        ),
    ];

    /// Compares the fast path with the JSON one on `doc`: the same household, the same
    /// conflicts; and the number of conflicts when the fast path read it.
    fn compare(doc: &HouseholdDoc) -> Option<usize> {
        let mut fast_found = Gathered::default();
        let fast: Result<Household, Miss> =
            read(&doc.doc, &automerge::ROOT, &LAYOUT_KEYS, &mut fast_found);
        let mut found = Gathered::default();
        let slow = tree::read_map_gathering(&doc.doc, &automerge::ROOT, &mut found)
            .and_then(|map| HouseholdDoc::from_map(&doc.doc, map));
        let mut am = doc.doc.clone();
        let conflicts = found.describe(&mut am);
        match fast {
            Ok(h) => {
                assert_eq!(Some(&h), slow.as_ref().ok(), "the JSON path reads it alike");
                assert_eq!(fast_found.describe(&mut am), conflicts);
                Some(conflicts.len())
            }
            Err(Miss) => None,
        }
    }

    fn typical(n: u8) -> HouseholdDoc {
        let id = HouseholdId::from("hh-typed");
        let actor = ActorId::from([n; 16]);
        let (mut doc, ()) =
            HouseholdDoc::create_with(&id, actor, &author(n), fill_typical).expect("create");
        doc.edit(&author(n), |e| {
            let day = chrono::NaiveDate::from_ymd_opt(2026, 10, 8).expect("day");
            let case = e.add_case(&case_record(CaseKind::Exit, day, "村委"))?;
            let step = step_record(ProcedureStep::HomeCheck, day, "村委", StepOutcome::Passed);
            e.add_step(&case, &step).map(|_| ())
        })
        .expect("a case");
        doc
    }

    #[test]
    fn the_fast_path_reads_what_the_json_path_reads() {
        let (mut read_fast, mut with_conflicts) = (0, 0);
        let mut rng = SplitMix64::new(21);
        for round in 0..60 {
            let mut devices = vec![typical(1)];
            for n in 2..=3u8 {
                let fork = devices[0].fork(ActorId::from([n; 16]));
                devices.push(fork);
            }
            for (n, doc) in devices.iter_mut().enumerate() {
                for _ in 0..rng.below(4) {
                    let (path, values) = EDITS[rng.index(EDITS.len())];
                    let value = values[rng.index(values.len())];
                    let value = serde_json::from_str(value).expect("json");
                    // Refused edits leave the document as it was.
                    let _ = doc.edit(&author(n as u8 + 1), |e| e.set_field(path, value));
                }
                if rng.percent(30) {
                    let income = json!({"wage": rng.below(50_000) * 100});
                    let _ = doc.edit(&author(n as u8 + 1), |e| {
                        e.set_field(&format!("incomes.{}", 2024 + rng.below(3)), income)
                    });
                }
            }
            let (first, rest) = devices.split_at_mut(1);
            for other in rest {
                first[0].merge(other).expect("merge");
            }
            if let Some(conflicts) = compare(&first[0]) {
                read_fast += 1;
                with_conflicts += usize::from(conflicts > 0);
            }
            assert!(
                compare(&devices[1]).is_some(),
                "round {round}: one device's own edits"
            );
        }
        // Colliding income years included: nothing here is outside the layout.
        assert_eq!(
            read_fast, 60,
            "the fast path read {read_fast} of 60 merged documents"
        );
        assert!(
            with_conflicts > 10,
            "{with_conflicts} of them with conflicts"
        );
    }

    #[test]
    fn colliding_maps_are_read_as_the_json_path_reads_them() {
        // Two devices create the same household: every map of the root collides.
        let id = HouseholdId::from("hh-twice");
        let mut a = HouseholdDoc::create(&id, ActorId::from([1; 16]), &author(1)).expect("a");
        let mut b = HouseholdDoc::create(&id, ActorId::from([2; 16]), &author(2)).expect("b");
        b.edit(&author(2), |e| {
            e.set_field("living.house_grade", json!("a"))?;
            e.set_field("info.phone", json!("13912345678"))
        })
        .expect("edit");
        a.edit(&author(1), |e| {
            e.set_field("info.phone", json!("13800000000"))
        })
        .expect("edit");
        a.merge(&mut b).expect("merge");
        // The fast path reads it, and finds the phone the two maps disagree on.
        assert_eq!(compare(&a), Some(1));
        let reading = a.read_all().expect("read");
        assert_eq!(
            reading.household.living.house_grade,
            Some(crate::codes::HouseGrade::A)
        );
    }
}
