//! Epoch seconds → `YYYY-MM-DDTHH:MM:SS.mmmZ`, the text Python's `datetime.fromtimestamp(..,
//! UTC)` gives (years 1970-9999; beyond that Python refuses and so does this).

/// Last second Python's `datetime` can represent: 9999-12-31T23:59:59Z.
pub const MAX_SECONDS: u64 = 253_402_300_799;

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn epoch_ts(seconds: u64, millis: u64) -> Option<String> {
    if seconds > MAX_SECONDS {
        return None;
    }
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    let mut digits = |value: u64, width: u32| {
        for power in (0..width).rev() {
            out.push(char::from(b'0' + (value / 10u64.pow(power) % 10) as u8));
        }
    };
    digits(year as u64, 4);
    digits(u64::from(month), 2);
    digits(u64::from(day), 2);
    digits(rem / 3600, 2);
    digits(rem / 60 % 60, 2);
    digits(rem % 60, 2);
    digits(millis, 3);
    // YYYYMMDDHHMMSSmmm → YYYY-MM-DDTHH:MM:SS.mmmZ
    for (at, mark) in [
        (4, '-'),
        (7, '-'),
        (10, 'T'),
        (13, ':'),
        (16, ':'),
        (19, '.'),
    ] {
        out.insert(at, mark);
    }
    out.push('Z');
    Some(out)
}
