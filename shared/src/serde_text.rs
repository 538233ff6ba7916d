//! Serde for values kept as text: one definition of "write the text, read it back through the
//! same parser the forms use", so stored and typed values are accepted alike.

/// Implements `Serialize` as the `&str` `$text` gives for `|$v|` and `Deserialize` through
/// `$parse`, whose error becomes the deserialiser's message. Exported because [`code_list!`]
/// expands to it in other crates.
///
/// [`code_list!`]: crate::code_list
#[doc(hidden)]
#[macro_export]
macro_rules! serde_as_text {
    ($ty:ty, |$v:ident| $text:expr, $parse:expr) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let $v = self;
                s.serialize_str($text)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                ($parse)(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
