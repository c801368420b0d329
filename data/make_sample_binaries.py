"""Regenerate the binary and oddly encoded sample transcripts in data/sample/.

Usage (from the repository root)::

    python data/make_sample_binaries.py

Three of the bundled sample transcripts cannot be kept as plain UTF-8 text, so
their source text lives here and this script writes them:

* ``int02_ml_engineer.txt``  - UTF-16 little-endian with BOM, CRLF line endings
  (what Windows tools export), labels ``Interviewer:`` / ``AI 1:``. It contains
  a subscript one (T₁), whose UTF-16 bytes include 0x81, so the file does
  not decode as cp1252 either.
* ``int03_radiologist.txt``  - cp1252 (Windows-1252), LF line endings, lines like
  ``[00:01:23] Dr Okafor: ...``; it contains curly quotes, en dashes, an
  ellipsis, a euro sign and accented letters, so it is *not* valid UTF-8 and
  decodes differently as latin-1.
* ``int08_cardiologist.docx`` - Word document (python-docx): a title paragraph,
  then one paragraph per turn with the speaker label in a bold run.

All transcripts are fictional and were written for this project; no real
interviews or persons. The output is deterministic: the same bytes on every run
(fixed timestamps, fixed document properties, fixed zip entry dates).
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import zipfile
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"

# Fixed date used for the .docx core properties and zip entries.
FIXED_DATETIME = dt.datetime(2026, 3, 26, 10, 30, 0)

# Each transcript: turns separated by a blank line, each turn "Speaker: text".

INT02_ML_ENGINEER = """\
Interviewer: Thanks for joining. Could you describe your role and the company you work for?

AI 1: Sure. I'm a machine learning engineer at Kestrel Health Analytics. We're a medical imaging AI company, about sixty people, with offices in two countries. Our main product detects intracranial haemorrhage on non-contrast CT scans of the head and flags positive scans to the top of the radiologist's worklist. We've recently added a chest X-ray module that looks for pneumothorax and a few other urgent findings. I've been there four years. Before that I did a PhD in computer vision, nothing to do with medicine, mostly satellite images. My day-to-day work is a mix of model development, so training and evaluating new versions, and, more and more, deployment engineering: getting the models running reliably inside hospital networks and monitoring them once they're live.

Interviewer: How do you get the data to train these models?

AI 1: Through data partnerships with hospitals, mostly. We have agreements with about eight hospitals that provide de-identified scans and reports, and in return they get access to the product, research collaborations, sometimes payment. The scans then have to be labelled, and that's where a lot of the cost and a lot of the difficulty sits. Reports aren't labels. A report might say "no acute intracranial abnormality" but the radiologist was really focused on a particular question and didn't comment on a tiny subdural. So we pay radiologists to annotate images directly, drawing around bleeds, and we have at least two annotators per scan and an adjudicator when they disagree. They disagree more than you'd think. On small, subtle bleeds, experienced neuroradiologists agree maybe three quarters of the time. That was a humbling lesson for me. I came in thinking of labels as ground truth. In medicine, the ground truth is often a negotiated opinion.

Interviewer: What happens when you deploy a model in a hospital that wasn't in your training data?

AI 1: Performance drops, almost always, and the question is how much. The usual culprits are scanner manufacturers and protocols. A model trained mostly on scans from one manufacturer with thin slices can behave differently on another manufacturer's reconstruction kernel or thicker slices. We saw the same thing with an MRI prototype a couple of years ago: it was trained on T₁-weighted sequences from two manufacturers and fell apart on the third. Patient population matters too. One of our early sites was a major trauma centre, and the model had seen loads of young trauma patients. Then we deployed at a hospital with a big elderly population, lots of atrophy, old infarcts, calcifications, and the false positive rate went up noticeably. Calcified structures were the main problem, the model occasionally mistook them for blood. Now we insist on a local validation before go-live, on a few hundred retrospective scans from the site. Some customers see it as a hurdle. The good ones insist on it themselves.

Interviewer: How do the radiologists see what the model has found?

AI 1: We give a flag, a confidence category, and a heatmap overlay showing where the model thinks the bleed is. The heatmap was originally built for us, as engineers, for debugging. Then customers asked for it and it became a feature. I have mixed feelings. Radiologists say they like it, and it helps them find the area quickly. But heatmaps can be misleading. They show where the model was looking, roughly, not why it concluded what it did, and sometimes they highlight something plausible even when the model is wrong. I've seen a radiologist accept a false positive because the heatmap pointed at a dense-looking area, and it looked convincing. So I worry that we've given people something that feels like an explanation but is really a picture of attention. We've started adding text in the user guide about that, but honestly, who reads user guides?

Interviewer: What does integration into a hospital involve?

AI 1: That's the part that surprised me most when I joined. I assumed the hard part was the model. It isn't. The hard part is getting images from the scanner to our software and results back into the radiologist's worklist without slowing anything down. Every hospital's imaging set-up is different. Some run the software on a server inside their network, some want it in the cloud, and some aren't allowed to use the cloud. Then there's IT security. The security review at one hospital took nine months. They wanted a penetration test, an audit of our code dependencies, details of every port we open. All reasonable, but nine months. During that time, the radiology team who wanted the product kept asking me why it wasn't live, and I didn't have a good answer, other than "your IT department is being careful", which didn't make me popular with anyone.

Interviewer: How is the product regulated?

AI 1: It's a certified medical device, class IIa in the European scheme, with an intended use that's quite narrow. It's for prioritising the worklist, not for diagnosing. It doesn't rule anything out, and the radiologist must review all scans as usual. That narrowness matters. Customers sometimes want to use it for things it isn't certified for, for example to give emergency doctors a preliminary result before the radiologist has looked. We have to say no, or at least, "you can't do that under our certification and if you do, the responsibility is yours". That can be awkward, because it would genuinely be useful in some settings. But if we changed the intended use, we'd need a new assessment, new clinical evidence, new risk analysis. We also have post-market obligations. We collect performance feedback, investigate complaints, and report certain incidents. That's a significant, ongoing amount of work.

Interviewer: Do the models change once they're deployed?

AI 1: Not automatically. Our models are locked. A deployed version doesn't learn from the hospital's data. If we improve the model, it's a new version that goes through our verification and validation and change control, and depending on the change, may need regulatory review before it's rolled out. Customers are sometimes disappointed by that. They assume AI keeps learning by itself, and they ask "why is it still making the same mistake on our scans?" The answer is that we'd need their data, re-labelled, in a new training round, then validation, then a release. That takes months. There's a lot of interest in more adaptive approaches, and there are emerging regulatory ideas for pre-agreed change plans. But for now, locked models are much easier to certify and, frankly, to trust. You know exactly what you're running.

Interviewer: What about monitoring after deployment?

AI 1: We monitor technical things very well, like uptime, processing time, and the fraction of scans processed. We monitor input data quite well, like whether the distribution of scanner types or slice thickness changes at a site. For instance, we noticed when one hospital replaced a scanner, because the image characteristics shifted overnight. We contacted them before they noticed any change in performance. What we monitor less well is clinical performance, because we don't automatically get the final diagnosis. We know what the model said, but not whether it was right, unless the hospital shares report outcomes with us. Some do, through a feedback integration. Many don't, for information governance reasons or just because nobody's set it up. That's a gap. I'd love a standard way for hospitals to send us outcomes, because without it, our post-market surveillance depends on complaints, and complaints only tell you about the errors somebody noticed.

Interviewer: How do you work with clinicians when developing and deploying?

AI 1: We have a clinical team, three radiologists part-time and a clinical safety officer, and they're involved in everything. Personally, the most valuable thing I've done is sit next to radiologists while they report. I spent two days at a customer site watching a neuroradiologist work through a list, and I learned more about what matters than in a year of reading papers. For example, I learned that a flag arriving thirty seconds after the scan is useful, but one arriving ten minutes later is almost useless, because by then the radiologist has often opened the scan anyway. That changed our engineering priorities completely. We'd been optimising accuracy by a fraction of a percent when latency was what mattered. I also learned how much interruption they deal with, phones ringing constantly. A pop-up from our software was one more interruption, so we made it a silent flag in the worklist instead.

Interviewer: Are there tensions between what the company needs and what clinicians need?

AI 1: Of course. The company needs to sell a product that works across many hospitals, and clinicians want something tailored to them. Every site has requests: "can you also detect this", "can you change the threshold for our paediatric patients", "can you integrate with our reporting template". Some of those are great ideas we then build for everyone. Some are really specific to one site and would create a maintenance nightmare. And some, like the paediatric threshold, would take us outside our intended use, since the product isn't certified for children. The sales team is sometimes tempted to say yes to everything. Product and engineering are the ones who have to deliver it. Also, the business model matters. We're paid per scan or with an annual licence, and hospitals want to see a return. But the benefit of faster detection of a bleed is in patient outcomes, and those are hard to measure. So we end up selling on turnaround time, which is measurable, even though that's not really the point.

Interviewer: Who owns the improvements that come from hospital data?

AI 1: Contractually, the model and any improvements belong to us. The hospitals own their data, and grant us a licence to use it for development under specific conditions. Some partners negotiate a share in revenue, or free licences, or co-authorship of publications. It's a sensitive area. Hospitals are increasingly aware that their data has value and that, in a sense, they're helping build a commercial product. I think that's fair. I'd prefer arrangements where partners get something meaningful back, because that relationship needs to last. When a partnership feels extractive, the hospital loses interest, the data dries up, and the model stops improving on populations like theirs.

Interviewer: If the model misses a bleed and a patient is harmed, who is responsible?

AI 1: Legally, I'm not the right person, but I'll tell you how we think about it internally. If the product performs within its specification and it's used within its intended use, the radiologist who reports the scan is responsible for the report, as they always were. If the product fails to do what we claim, because of a bug, a deployment error or a performance problem we should have caught, that's on us, and we have insurance and a process for that. The grey zone is when it's used in a way that's sort of within the intended use but the workflow changes in subtle ways. For example, if radiologists start reading unflagged scans later or less carefully because they trust the flags. Technically, that's a misuse. In practice, it's a predictable human response to the tool. I think that's where the hardest questions about liability will come from.

Interviewer: Thank you. Anything else you'd like to add?

AI 1: Only that I wish there were more people who sit in the middle. Radiologists who understand machine learning well enough to challenge us, and engineers who've spent real time in hospitals. The projects that go well almost always have one person on the hospital side who gets both worlds. When that person isn't there, everything takes twice as long and nobody's happy.

Interviewer: Thank you very much.

AI 1: No problem. Good luck with the project.
"""

INT03_RADIOLOGIST = """\
Interviewer: Thank you for agreeing to talk to me. Could you start by describing your role?

Dr Okafor: Of course. I’m a consultant radiologist at St Brannock’s University Hospital – I’ve been a consultant for nine years, mostly doing chest and cardiac imaging, and for the last two years I’ve been the department’s lead for AI, which is a title that sounds grander than it is. In practice it means that when a vendor emails the department, the email comes to me, and when something goes wrong with one of the tools, people come and stand in my doorway. We currently have two AI tools in routine use: a chest X-ray triage tool that re-orders the reporting worklist, and a lung nodule detection tool that runs on chest CT. We also trialled a third, for bone age in children, and stopped it – I can tell you about that later if it’s useful.

Interviewer: Let’s start with the chest X-ray triage tool. How did it come to be introduced?

Dr Okafor: Backlog, frankly. Two years ago we had more than eleven thousand unreported plain films. Chest X-rays from GP referrals were waiting weeks, and a few of those had lung cancers on them. There was a serious incident – a patient whose film had a clear mass, reported six weeks late – and after that there was enormous pressure to do “something”. The hospital was approached by a vendor offering a triage tool that flags abnormal chest X-rays so they get reported first. The business case was written quickly, I’ll be honest, and I was involved but not leading it. It was funded partly from a regional imaging network budget, and the licence was priced in euros, about €38,000 a year, which caused its own small drama when the exchange rate moved. So the driver was a very real problem, and the tool did help with that problem. But I’d say the decision was made under pressure, and we skipped a few steps we shouldn’t have.

Interviewer: Which steps?

Dr Okafor: Mainly a proper local validation before go-live, and a proper conversation with the reporting radiographers. We did a quick check on about two hundred films, which looked fine, but two hundred is nothing. It was only after go-live that we saw the tool’s behaviour on our real case mix. It was very good at large obvious abnormalities – which, to be fair, a radiographer would also spot in seconds – and less reliable on subtle things like small nodules behind the heart or early consolidation. It also flagged almost every film with a pacemaker, a central line or a nasogastric tube as “abnormal”, because technically there’s something there. So a big chunk of the “urgent” pile was ward patients with lines, who’d already been looked at by the clinical team. That’s the sort of thing you’d catch with a proper pre-deployment study. We retro-fitted one about six months in, with my registrar Dr Renée Fournier doing a lot of the work, and we changed the settings so that films from the wards with known devices don’t jump the queue.

Interviewer: You mentioned the reporting radiographers. How were they affected?

Dr Okafor: This is the bit I feel most strongly about. In our department, a lot of chest X-ray reporting is done by reporting radiographers – highly skilled people who’ve done postgraduate training to report films. When the tool went in, the worklist changed under their feet. They’d been used to working through lists in order, and suddenly it was re-ordered by a machine, and nobody had asked them how that would affect their work. Some of them felt – and said to me, quite directly – that the tool was a first step towards replacing them. One of our senior radiographers said “so now I’m checking the computer’s homework”. That’s a real concern about professional identity, and it wasn’t handled well. We’d spoken to the radiologists. We’d not spoken enough to the radiographers, and they are the ones who report most of the films. We’ve since involved them properly – two of them are on our AI working group now – and they’ve been the source of some of the best ideas, like the device exclusion.

Interviewer: How does the tool communicate its findings?

Dr Okafor: It puts a coloured flag on the worklist – red, amber, or nothing – and if you open the image there’s an overlay highlighting the region it’s concerned about, with a label like “nodule” or “consolidation” and a probability. The overlay can be helpful, it draws your eye. But it has a subtle effect that I worry about. Once you’ve seen the box, you tend to look at the box. There’s good evidence from decades of perception research that radiologists who find one thing are less likely to find a second – “satisfaction of search”, we call it. A big red box on the obvious finding could make that worse. I’ve seen it in my own reporting: I confirm the box, and then I have to consciously force myself to go back and do my usual systematic review. I’ve told the registrars to look at the image first with the overlay off, form their view, and only then turn it on. Whether they actually do that at ten o’clock at night with sixty films waiting… I’d be naïve to assume so.

Interviewer: What about the lung nodule tool?

Dr Okafor: That’s a different kind of tool and, honestly, a happier story. It runs on chest CTs, finds nodules, measures them, and compares them with previous scans to calculate growth. Measuring nodules by hand is tedious and error-prone, and radiologists vary a lot in how they measure. The tool is more consistent than we are, which is humbling. Where it helps most is follow-up scans – it matches nodules across time points and gives a volume doubling time, which is what the guidelines care about. It saves me perhaps five minutes on a complex follow-up CT. It misses some things, like nodules next to vessels or ones that are ground-glass, and it sometimes calls a vessel a nodule. But because it’s a second reader rather than a triage tool – I read the whole scan and then check what it’s found – the risks are different. If it misses something, I’m still reading the scan as I always did. So I trust it more, partly because the way it fits into the work is more honest about who’s in charge.

Interviewer: You said you stopped the bone age tool. What happened?

Dr Okafor: It was a pilot with the paediatric radiology team. The tool estimates a child’s bone age from a hand X-ray, which is a fairly routine task. Technically it worked well. The problem was that the tool was trained mostly on children from one population, and the reference standards for bone age themselves are based on old data from a narrow population. Our paediatric radiologists, and especially Dr Amara Castellanos-Reid, raised concerns about applying it to the children we see, who are very ethnically diverse. There was no evidence it was biased, but no evidence it wasn’t, either – the vendor didn’t have the subgroup data. The paediatric team also said, quite reasonably, that bone age takes them two or three minutes, and they weren’t sure the tool saved enough time to justify the uncertainty. So after three months we decided not to continue. I think that was the right call, and the right way to make it: the people who do the work looked at the evidence and said “not for us, not yet”. Stopping something isn’t a failure.

Interviewer: Who do you see as responsible if the triage tool fails to flag an abnormal film?

Dr Okafor: The person who reports the film is responsible for the report – that hasn’t changed. The harder question is about the delay. If the tool doesn’t flag a cancer, that film sits lower in the queue and gets reported later than it would have been in some other system. Is that the radiologist’s fault? No, they hadn’t seen it yet. The vendor’s? Their contract says the tool is “an aid to prioritisation” and doesn’t guarantee detection. The hospital’s? Well, the hospital chose to prioritise using a tool that we know misses some things. Before the tool, everything was equally late, so a missed flag doesn’t make anything worse than the old system. But it feels different, and I suspect a coroner or a lawyer would see it differently too. I’ve asked our legal team for a clear position and they’ve said it’s an “evolving area”. That’s not very helpful when you’re the one whose name is on the report.

Interviewer: How has it affected your relationships with referrers and patients?

Dr Okafor: Referrers have mostly noticed faster turnaround on abnormal films, which they like. Some GPs have started to assume that if they haven’t heard back, the film is normal – because “the AI would have flagged it”. That’s a misunderstanding we’ve had to correct in a newsletter to practices. Patients rarely know. Occasionally someone asks whether AI looked at their scan, usually after reading something in the news. I tell them the truth: yes, a tool helped sort the list, and a person reported it. Most people seem reassured by that combination. One patient – a retired engineer, very sharp – asked me whether the tool had been tested on people like him, which is a very good question, and one I could only partly answer.

Interviewer: What training was provided?

Dr Okafor: For the triage tool, the vendor did a forty-five-minute webinar, mainly about the interface. I then wrote a two-page local guide covering what the tool is for, its known weaknesses on our films, and the “look first, then turn on the overlay” advice. That guide is now part of the registrar induction. For the nodule tool, training was better – the vendor’s application specialist came on site for two days and sat with us while we reported. That made a big difference. What nobody trained us on, though, is how to evaluate these tools ourselves. I had to learn about sensitivity at different thresholds and about calibration from online courses in my evenings. I think radiologists need that as a core skill now, and the college is starting to include it in training, but it’s late.

Interviewer: How are the tools monitored now?

Dr Okafor: We have a quarterly audit, which Renée set up and which one of the radiographers now runs. We take a random sample of flagged and unflagged films, compare them with the final reports, and track sensitivity for the main finding categories. We also track turnaround times. We found a drop in performance last spring, and it turned out a new digital radiography unit had been installed in the emergency department with different image processing. The vendor confirmed it and adjusted the pre-processing. Without the audit we wouldn’t have known. The monitoring reports go to our department’s governance meeting, and, since last year, to the hospital’s digital safety committee. It isn’t glamorous, it’s a spreadsheet and a radiographer’s Thursday morning, but it’s what keeps the thing honest.

Interviewer: If you were advising a department about to introduce a similar tool, what would you say?

Dr Okafor: Be clear what problem you’re solving and check, with your own data, that the tool actually solves it. Talk to everyone whose work will change – radiographers, secretaries, referrers – not just the consultants. Run it in the background first. Decide who monitors it and give them time. Write down what it’s for and what it isn’t for. Be prepared to stop if it isn’t helping. And don’t let the urgency of a backlog push you into skipping those steps, which is what happened to us. We got there in the end, but we got there the long way round.

Interviewer: Thank you very much.

Dr Okafor: You’re welcome – and do send me the findings.
"""

INT08_CARDIOLOGIST = """\
Interviewer: Could you describe your role and the setting you work in?

HCP 4: I'm a consultant cardiologist at Eastmoor Heart Centre, which is the regional cardiac centre for a population of about a million and a half people. My subspecialty is electrophysiology, so heart rhythm problems: atrial fibrillation, pacemakers, ablations. I also run the rapid-access arrhythmia clinic. And I've been on the hospital's digital health committee for about three years, so I've been involved in the decisions about a few AI tools, both for and against.

Interviewer: Which AI tools do you encounter in your work?

HCP 4: Three main ones. The first is an ECG interpretation tool built into our new ECG management system, which reads every twelve-lead ECG done in the hospital and produces an interpretation. Automated ECG interpretation isn't new, machines have printed a computer interpretation at the top of the ECG for decades, but the new one is a deep learning model and it claims to do more, for example flag patients likely to have a weak heart muscle from the ECG alone, even when the ECG looks normal to a human. The second is an echo tool that automatically measures ejection fraction and other parameters from ultrasound images. And the third isn't really ours, but it affects us hugely, which is consumer smartwatches and patches that detect atrial fibrillation. Patients arrive in clinic with pages of alerts from their watch.

Interviewer: Let's start with the ECG tool. How do you and your colleagues use it?

HCP 4: For the standard rhythm interpretation, it's better than the old algorithm. Fewer silly errors, better at distinguishing atrial flutter from sinus tachycardia, for example. But cardiologists largely ignore the interpretation, because we read the ECG ourselves. Where it matters more is for non-cardiologists. A junior doctor in the emergency department at three in the morning reads the top line. If it says "atrial fibrillation", they start treatment. So the tool's influence is greatest precisely on the people least able to check it. That worries me. The low ejection fraction prediction is more interesting and more controversial. It finds something that a human can't see on the ECG. I find that fascinating, but it also means I can't verify it by looking. I have to order an echo to check. So what do we do with that flag? If we echo everyone it flags, the echo waiting list, which is already months long, gets longer. If we don't, what's the point of the flag?

Interviewer: How was that question resolved?

HCP 4: It hasn't been, fully. We've agreed for now that the low ejection fraction flag is switched on only in the heart failure clinic and the arrhythmia clinic, where the clinicians understand it and there's an echo pathway with capacity. It's switched off everywhere else, including the emergency department and general practice ECGs. That took a lot of discussion at the digital health committee. The vendor wanted it on everywhere, naturally, because that's the selling point. Some of my colleagues thought we were being too cautious. But the evidence we had was from the vendor's validation in a different health system, with a different population and different referral patterns. In our population the proportion with reduced ejection fraction among people having ECGs is different, and the positive predictive value could be quite low in primary care. Before we switch it on more widely, we want our own data. We're now running it silently on all ECGs and comparing it with echo results where patients happen to have an echo anyway. In a year, we'll know much more.

Interviewer: Did you have concerns about how the tool reaches its output?

HCP 4: Yes. For the rhythm interpretation, I can check it. For the ejection fraction prediction, it's a black box in the true sense. The vendor showed us some saliency maps, highlighting parts of the waveform, but frankly, they didn't tell me much. I'm not a purist about this. We use plenty of things in medicine without fully understanding the mechanism. What I need is good evidence that it works in patients like mine, an understanding of when it fails, and a clear plan for what we do with the result. If I have those three, I can live with not knowing exactly how it works. If I don't have them, no amount of heatmaps will make me comfortable.

Interviewer: Tell me about the echo tool.

HCP 4: That's been more straightforward, and I'd say quite successful. Measuring ejection fraction by hand is time-consuming and there's considerable variation between operators. The tool traces the ventricle and calculates the ejection fraction automatically, and the sonographer or cardiologist reviews and adjusts it. Our cardiac physiologists, who do most of the scans, were initially worried it would de-skill them, and the more senior ones were quite resistant. What changed their minds was when we looked at repeat measurements. The tool was more consistent than people were, and for follow-up of patients on chemotherapy, where small changes matter, consistency is exactly what you want. The physiologists now see it as something that takes away a tedious part of the job and lets them focus on the difficult images and the unusual pathology. But we made sure they were involved in deciding how it's used, and that they can always override it. Their professional body was helpful there too, and put out guidance on automated measurements fairly early.

Interviewer: And the consumer devices?

HCP 4: That's the wild west. Patients buy a watch, it tells them they might have atrial fibrillation, and they come to us, anxious, with a list of alerts. Some of them do have atrial fibrillation, and picking it up earlier is genuinely valuable, because it can mean starting anticoagulation to prevent a stroke. But many don't, or they have very short episodes whose significance we don't fully understand. We have no way to validate the devices ourselves, they're consumer products, and each brand behaves differently. Patients expect us to look at all their data. One gentleman emailed me a file of four months of continuous heart rate data and asked me to "have a look". I don't have the time, the software, or frankly the contract to do that. It's also changed the patient relationship. Patients are more informed and more engaged, which is good, but some are also more anxious, and some come in with a diagnosis already in their heads from the watch, and then find it hard to accept when we say they don't have the condition.

Interviewer: How has the hospital handled that?

HCP 4: We've developed a pathway. If a patient comes with a watch alert, they get a standard clinical assessment and a proper monitoring test, like a two-week patch, and we don't review raw data from consumer devices outside that pathway. We also wrote a patient leaflet explaining what the watch can and can't tell them. But there's a wider system issue here. The devices are sold directly to the public, regulated as consumer health products for a narrow function, and the workload they generate lands on the health service, which didn't choose them and isn't funded for them. Nobody planned for that. The professional societies have started to issue statements, but policy is a long way behind.

Interviewer: Who do you feel is responsible when one of these tools is wrong?

HCP 4: For the tools we've chosen, the clinician who acts on the output remains responsible, and the hospital is responsible for choosing and configuring them sensibly. That's why we've been careful about where the ejection fraction flag is switched on. I'm more worried about the junior doctor who follows the ECG interpretation and is then told in a complaint hearing that they should have read it themselves. We've tried to support them by including ECG tool limitations in the junior doctor induction. For the consumer devices, responsibility is unclear. If a patient's watch flagged atrial fibrillation, they didn't come to us, and they had a stroke, who's responsible? I think most people would say nobody in the hospital, but the patient might feel differently.

Interviewer: How are decisions about these tools made in your hospital?

HCP 4: Through the digital health committee, which reviews proposals, looks at the evidence, and considers cost, risk and fit with existing services. The ECG system was bought as part of a wider replacement of the ECG management system, and the AI features came bundled. That's increasingly common: AI comes as a feature of a larger system, not a separate purchase, and there's a risk it slips in without the scrutiny a standalone AI tool would get. We caught the ejection fraction feature because one of our physiologists read the release notes. Otherwise it might have been switched on by default. I've since asked procurement to include a standard question in every digital tender: "Does this product include any AI or machine learning features, and what are they?"

Interviewer: What about the impact on training of junior doctors?

HCP 4: It's a real concern. Reading ECGs is a core skill, and it's learned by reading thousands of them and getting feedback. If juniors increasingly rely on the automated interpretation, they don't get that practice. I've noticed that some registrars are less confident with complex ECGs than their predecessors were. It might be the tool, or it might be other changes in training. We've introduced a weekly ECG teaching session where the automated interpretation is hidden, and they have to read the ECG cold first. They grumble, but they get better.

Interviewer: Is there anything else you'd like to add?

HCP 4: Just that we need to be careful not to let the excitement run ahead of the evidence. In cardiology, we're used to large randomised trials before we change practice. With AI tools, the evidence is often retrospective accuracy studies in a different setting. That's a starting point, not an endpoint. I'm optimistic about what these tools can do, particularly in areas like echo measurement, but I'd like us to hold them to the same standard we'd hold a new drug.

Interviewer: Thank you very much.

HCP 4: Thank you.
"""


def parse_turns(text: str) -> list[tuple[str, str]]:
    """Split a block of "Speaker: text" paragraphs into (speaker, text) turns."""
    turns = []
    for block in text.strip().split("\n\n"):
        speaker, sep, utterance = block.strip().partition(": ")
        if not sep:
            raise ValueError(f"turn without a speaker label: {block[:60]!r}")
        turns.append((speaker.strip(), " ".join(utterance.split())))
    return turns


def fake_timestamps(turns: list[tuple[str, str]], start: int = 4) -> list[int]:
    """Plausible, strictly increasing start times in seconds (about 150 words a minute)."""
    times, t = [], start
    for i, (_, text) in enumerate(turns):
        times.append(t)
        t += round(len(text.split()) / 2.5) + 2 + (i * 7) % 4
    return times


def hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def write_int02(path: Path) -> None:
    """UTF-16 LE with BOM and CRLF line endings, like a Windows export."""
    turns = parse_turns(INT02_ML_ENGINEER)
    text = "\r\n\r\n".join(f"{speaker}: {utterance}" for speaker, utterance in turns) + "\r\n"
    # Same bytes as text.encode("utf-16") on a little-endian machine, but
    # independent of the host's byte order.
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))


def write_int03(path: Path) -> None:
    """cp1252, one "[hh:mm:ss] Speaker: text" line per turn, blank line between turns."""
    turns = parse_turns(INT03_RADIOLOGIST)
    times = fake_timestamps(turns, start=7)
    lines = [f"[{hms(t)}] {speaker}: {utterance}" for t, (speaker, utterance) in zip(times, turns)]
    data = ("\n\n".join(lines) + "\n").encode("cp1252")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:  # pragma: no cover - guards the point of this sample
        raise AssertionError("int03 must not be valid UTF-8")
    path.write_bytes(data)


def _normalise_zip(blob: bytes) -> bytes:
    """Rewrite a zip with fixed entry dates so the .docx is byte-for-byte reproducible."""
    out = io.BytesIO()
    stamp = FIXED_DATETIME.timetuple()[:6]
    with zipfile.ZipFile(io.BytesIO(blob)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 0
            zout.writestr(info, zin.read(item.filename))
    return out.getvalue()


def write_int08(path: Path) -> None:
    """Word document: title paragraph, then "Speaker:" in bold followed by the text."""
    from docx import Document  # python-docx

    doc = Document()
    doc.add_paragraph("Interview 8 \u2014 cardiology", style="Title")
    for speaker, utterance in parse_turns(INT08_CARDIOLOGIST):
        paragraph = doc.add_paragraph()
        paragraph.add_run(f"{speaker}:").bold = True
        paragraph.add_run(f" {utterance}")

    props = doc.core_properties
    props.title = "Interview 8 \u2014 cardiology"
    props.subject = "Fictional sample transcript (precode)"
    props.author = "precode sample data"
    props.last_modified_by = "precode sample data"
    props.comments = "Fictional interview written for the precode project; no real persons."
    props.keywords = "sample; fictional; interview"
    props.revision = 1
    props.created = FIXED_DATETIME
    props.modified = FIXED_DATETIME
    props.last_printed = FIXED_DATETIME

    buffer = io.BytesIO()
    doc.save(buffer)
    path.write_bytes(_normalise_zip(buffer.getvalue()))


def main() -> None:
    SAMPLE_DIR.mkdir(parents=True, exist_ok=True)
    outputs = {
        "int02_ml_engineer.txt": write_int02,
        "int03_radiologist.txt": write_int03,
        "int08_cardiologist.docx": write_int08,
    }
    for name, writer in outputs.items():
        target = SAMPLE_DIR / name
        writer(target)
        print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
