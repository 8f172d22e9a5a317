import { launch, newPage } from "./browser.mjs";
const [base, ...specs] = process.argv.slice(2);
const s = await launch();
for (const spec of specs) {
  const [hash, name, width, scheme] = spec.split("|");
  const page = await newPage(s.context, { width: Number(width || 1440), height: 900 });
  await page.emulateMedia({ colorScheme: scheme || "dark" });
  await page.goto(base + "/" + hash);
  await page.waitForSelector("body[data-ready=true]");
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `/tmp/dash-dev/${name}.png`, fullPage: true });
  if (page.errors.length) console.log(name, page.errors);
  await page.close();
}
await s.close();
