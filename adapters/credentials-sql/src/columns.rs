//! The output column names of a `SELECT`, read from its text (no database needed, so
//! `portcullis config check` can refuse a query that cannot work before anything connects).
//!
//! The main `SELECT` is the first one outside parentheses (so a `WITH … AS (…)` prefix is
//! skipped); its list runs to the first `FROM` outside parentheses. An item's name is its
//! alias (`expr AS name` or `expr name`), else the last part of a column reference
//! (`u.email`, `"email"`, `` `email` ``), ignoring casts (`id::text`). An expression with no
//! alias has no name this parser can know, and `*` is refused: the query must name its
//! columns.

/// The lower-cased output names of `query`'s select list (`None` for an unnamed item).
pub fn output_columns(query: &str) -> Result<Vec<Option<String>>, String> {
    let tokens = tokenize(query);
    let top = |i: usize| {
        tokens[..i]
            .iter()
            .fold(0i32, |depth, t| depth + t.depth_change())
    };
    let select = (0..tokens.len())
        .find(|&i| tokens[i].is_keyword("select") && top(i) == 0)
        .ok_or("is not a SELECT")?;
    let mut items: Vec<Vec<&Token>> = vec![Vec::new()];
    let mut depth = 0;
    for token in &tokens[select + 1..] {
        if depth == 0 && token.is_keyword("from") {
            break;
        }
        depth += token.depth_change();
        if depth == 0 && *token == Token::Punct(',') {
            items.push(Vec::new());
        } else if let Some(item) = items.last_mut() {
            item.push(token);
        }
    }
    if let Some(first) = items.first_mut() {
        if first
            .first()
            .is_some_and(|t| t.is_keyword("distinct") || t.is_keyword("all"))
        {
            first.remove(0);
        }
    }
    items.iter().map(|item| item_name(item)).collect()
}

fn item_name(item: &[&Token]) -> Result<Option<String>, String> {
    let mut item = item.to_vec();
    // `expr::type` (PostgreSQL): the cast does not rename.
    while item.len() >= 3
        && matches!(item[item.len() - 1], Token::Word(_))
        && *item[item.len() - 2] == Token::Punct(':')
        && *item[item.len() - 3] == Token::Punct(':')
    {
        item.truncate(item.len() - 3);
    }
    match item.as_slice() {
        [] => Err("has an empty item in its select list".into()),
        [.., Token::Punct('*')] => Err(
            "selects `*`: list the columns (`SELECT id, name, email, password_hash FROM …`)".into(),
        ),
        [.., Token::Word(name)] | [.., Token::Quoted(name)] => Ok(Some(name.to_lowercase())),
        _ => Ok(None),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An identifier, keyword or number.
    Word(String),
    /// A quoted identifier, unquoted.
    Quoted(String),
    /// A string literal.
    Literal,
    Punct(char),
}

impl Token {
    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(word) if word.eq_ignore_ascii_case(keyword))
    }

    fn depth_change(&self) -> i32 {
        match self {
            Token::Punct('(') => 1,
            Token::Punct(')') => -1,
            _ => 0,
        }
    }
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '\'' => {
                // '' inside a literal is a quote; the loop sees it as two literals.
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
                tokens.push(Token::Literal);
            }
            '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                let name: String = chars.by_ref().take_while(|&c| c != close).collect();
                tokens.push(Token::Quoted(name));
            }
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' => {
                let mut word = String::from(c);
                while let Some(&next) = chars.peek() {
                    if next.is_alphanumeric() || next == '_' || next == '$' {
                        word.push(next);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            }
            c => tokens.push(Token::Punct(c)),
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(query: &str) -> Vec<Option<String>> {
        output_columns(query).unwrap()
    }

    fn some(names: &[&str]) -> Vec<Option<String>> {
        names.iter().map(|n| Some((*n).to_owned())).collect()
    }

    #[test]
    fn aliases_references_and_casts_name_the_columns() {
        assert_eq!(
            names("SELECT id, name, email, password_hash FROM users WHERE email = $1"),
            some(&["id", "name", "email", "password_hash"])
        );
        assert_eq!(
            names(
                "select u.user_id::text as ID, concat(u.first, ' ', u.last) AS \"name\",\n\
                 `mail` email, u.pw password_hash from app.users u where lower(u.mail) = lower(?)"
            ),
            some(&["id", "name", "email", "password_hash"])
        );
        assert_eq!(
            names("WITH x AS (SELECT a FROM b) SELECT DISTINCT x.id, lower(mail) FROM x"),
            vec![Some("id".to_owned()), None]
        );
        assert_eq!(
            names("SELECT CAST(id AS TEXT), 'a,b' AS name, (SELECT 1 FROM t) n FROM u"),
            vec![None, Some("name".into()), Some("n".into())]
        );
    }

    #[test]
    fn star_and_non_selects_are_refused() {
        assert!(output_columns("SELECT * FROM users WHERE email = $1")
            .unwrap_err()
            .contains("list the columns"));
        assert!(output_columns("SELECT u.* FROM users u").is_err());
        assert!(output_columns("DELETE FROM users").is_err());
        assert!(output_columns("SELECT id, , name FROM users").is_err());
    }
}
