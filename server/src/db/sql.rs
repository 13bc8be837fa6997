//! SQL text built with its bind values: placeholders numbered as they are pushed (`$1`, `$2`, …,
//! which both backends read), so a clause written once (a filter, the access rule) can be put into
//! any query with its values. Only text the server writes goes in here; outside values are always
//! binds.

/// A value bound to a placeholder.
pub enum Bind {
    I(i64),
    T(String),
    F(f64),
}

/// A query being written: its text so far and the values of its placeholders.
pub struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            binds: vec![],
        }
    }
    /// Append `fragment`, where `?` stands for the next placeholder, bound to `value`.
    pub fn push(&mut self, fragment: &str, values: Vec<Bind>) {
        let mut values = values.into_iter();
        for c in fragment.chars() {
            if c == '?' {
                if let Some(v) = values.next() {
                    self.binds.push(v);
                    self.text.push_str(&format!("${}", self.binds.len()));
                }
            } else {
                self.text.push(c);
            }
        }
    }
    pub fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.text.as_str()));
        for b in &self.binds {
            q = match b {
                Bind::I(v) => q.bind(*v),
                Bind::T(v) => q.bind(v.as_str()),
                Bind::F(v) => q.bind(*v),
            };
        }
        q
    }
}
