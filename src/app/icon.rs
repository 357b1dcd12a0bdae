//! The window and task-bar icon: `assets/icon.png` (drawn by `assets/make_icon.py`), decoded
//! into the RGBA pixels eframe wants.

use egui::IconData;

static ICON_PNG: &[u8] = include_bytes!("../../assets/icon.png");

/// The app icon, 256×256 RGBA. A PNG that cannot be decoded gives an empty icon (the window
/// system's default), not a failed start: a missing icon never stops an upload.
pub fn icon() -> IconData {
    match decode_rgba(ICON_PNG) {
        Ok(icon) => icon,
        Err(e) => {
            tracing::warn!("the app icon could not be decoded: {e}");
            IconData::default()
        }
    }
}

fn decode_rgba(bytes: &[u8]) -> Result<IconData, png::DecodingError> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    // Palettes and tRNS become RGBA, 16-bit channels become 8-bit.
    decoder.set_transformations(png::Transformations::ALPHA | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info()?;
    let size = reader
        .output_buffer_size()
        .ok_or(png::DecodingError::LimitsExceeded)?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        png::ColorType::Grayscale | png::ColorType::Indexed => {
            buf.iter().flat_map(|&g| [g, g, g, 255]).collect()
        }
    };
    Ok(IconData {
        rgba,
        width: info.width,
        height: info.height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(icon: &IconData, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * icon.width + x) * 4) as usize;
        [
            icon.rgba[i],
            icon.rgba[i + 1],
            icon.rgba[i + 2],
            icon.rgba[i + 3],
        ]
    }

    #[test]
    fn the_icon_is_256_square_rgba() {
        let icon = icon();
        assert_eq!((icon.width, icon.height), (256, 256));
        assert_eq!(icon.rgba.len(), 256 * 256 * 4);
        // Transparent corners (rounded square), an opaque orange arrow in the middle and a
        // white cloud beside it.
        assert_eq!(pixel(&icon, 0, 0)[3], 0);
        let arrow = pixel(&icon, 128, 140);
        assert_eq!(arrow[3], 255);
        assert!(arrow[0] > 200 && arrow[2] < 60, "{arrow:?}");
        assert_eq!(pixel(&icon, 60, 160), [255, 255, 255, 255]);
    }

    #[test]
    fn a_damaged_png_is_an_error_not_a_panic() {
        assert!(decode_rgba(&ICON_PNG[..100]).is_err());
        assert!(decode_rgba(b"not a png").is_err());
    }

    #[test]
    fn rgb_and_grey_pngs_become_rgba() {
        let encode = |color: png::ColorType, data: &[u8]| {
            let mut out = Vec::new();
            let mut enc = png::Encoder::new(&mut out, 2, 1);
            enc.set_color(color);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().expect("header");
            w.write_image_data(data).expect("data");
            w.finish().expect("finish");
            out
        };
        let rgb = decode_rgba(&encode(png::ColorType::Rgb, &[1, 2, 3, 4, 5, 6])).expect("rgb");
        assert_eq!(rgb.rgba, [1, 2, 3, 255, 4, 5, 6, 255]);
        let grey = decode_rgba(&encode(png::ColorType::Grayscale, &[7, 9])).expect("grey");
        assert_eq!(grey.rgba, [7, 7, 7, 255, 9, 9, 9, 255]);
    }
}
