/**
 * A small RFC 4180 CSV parser: comma-separated fields, fields in double quotes may hold commas,
 * newlines and doubled quotes (""), records end in CRLF or LF, a UTF-8 BOM is ignored.
 *
 * Why not a library: none is installed (the project's dependencies are fixed), the labelled CSVs
 * we read are small (tens of MB at most) and RFC 4180 fits in a page. Records keep the line they
 * start on, so errors can point at the file's line.
 */

export interface CsvRecord {
  /** 1-based line of the file where the record starts. */
  line: number;
  fields: string[];
}

export interface CsvParseOptions {
  /** Refuse files with more records than this (header included). */
  maxRecords?: number;
  /** Named in errors. */
  source?: string;
}

export class CsvError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'CsvError';
  }
}

/** Parses the whole text; blank lines (outside quotes) are skipped. */
export function parseCsv(text: string, options: CsvParseOptions = {}): CsvRecord[] {
  const { maxRecords = Infinity, source = 'CSV' } = options;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let quoted = false; // inside a quoted field
  let wasQuoted = false; // the current field was quoted (only a separator or newline may follow)
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  const endField = () => {
    fields.push(field);
    field = '';
    wasQuoted = false;
  };
  const endRecord = () => {
    endField();
    const blank = fields.length === 1 && fields[0] === '';
    if (!blank) {
      if (records.length >= maxRecords) {
        throw new CsvError(`${source}: more than ${maxRecords} records (line ${recordLine}); split the file or raise the limit`, recordLine);
      }
      records.push({ line: recordLine, fields });
    }
    fields = [];
  };

  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
          wasQuoted = true;
        }
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === ',') {
      endField();
    } else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      if (c === '\r') i++;
      endRecord();
      line++;
      recordLine = line;
    } else if (wasQuoted) {
      throw new CsvError(`${source} line ${line}: ${JSON.stringify(c)} after a closing quote; expected a comma or the end of the line`, line);
    } else if (c === '"') {
      if (field.length > 0) {
        throw new CsvError(
          `${source} line ${line}: a quote inside an unquoted field (${JSON.stringify(field + c)}); quote the whole field and double inner quotes`,
          line,
        );
      }
      quoted = true;
    } else {
      field += c;
    }
  }
  if (quoted) throw new CsvError(`${source}: the quoted field starting on line ${recordLine} is never closed`, recordLine);
  if (field.length > 0 || fields.length > 0 || wasQuoted) endRecord();
  return records;
}
